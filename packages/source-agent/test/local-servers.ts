import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The listening servers of a fake peer on 127.0.0.1, and every socket they accepted, closed together. */
export class LocalServers {
  readonly #servers: Server[] = [];
  readonly #sockets: Socket[] = [];

  /** A server on port 0 handing each accepted socket to `onSocket`; resolves with its port once listening. */
  async listen(onSocket: (socket: Socket) => void): Promise<number> {
    const server = createServer((socket) => {
      this.#sockets.push(socket);
      onSocket(socket);
    });
    this.#servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    for (const server of this.#servers) server.close();
  }
}
