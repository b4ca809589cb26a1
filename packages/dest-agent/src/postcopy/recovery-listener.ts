import type { AddressInfo, Server } from 'node:net';
import { listenAnyPort } from './listen-any-port.js';
import { FramedSocket, sameAddress, secureServer, type TransportSecurity } from '@livemig/agent-runtime';
import type { Frame } from '@livemig/protocol';

export interface RecoveryListenOptions {
  host: string;
  /** The paused migration's source: connections from anywhere else are dropped unread. */
  sourceAddress: string;
  /** The agent's credentials: a recovery connection is authenticated exactly like the first ones. */
  security: TransportSecurity;
  idleTimeoutMs: number;
  /** Where an authenticated connection goes with its first frame (PausedPostcopies.offer). */
  offer: (conn: FramedSocket, first: Frame, remoteAddress: string | undefined) => void;
}

/**
 * The port POST /migrations/:id/recover opens for a paused post-copy (QEMU's migrate-recover on a new URI):
 * like the data and urgent ports, it takes only the source's address, and only after TLS authenticated it.
 */
export class RecoveryListener {
  readonly port: number;
  readonly #server: Server;

  private constructor(server: Server, options: RecoveryListenOptions) {
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
    server.on('connection', (raw) => {
      if (!sameAddress(raw.remoteAddress, options.sourceAddress)) {
        raw.destroy();
        return;
      }
      secureServer(raw, options.security, options.idleTimeoutMs)
        .then((socket) => {
          const conn = new FramedSocket(socket, { idleTimeoutMs: options.idleTimeoutMs });
          return conn.receive(options.idleTimeoutMs, 'PostcopyResume or UrgentHello').then(
            (first) => options.offer(conn, first, raw.remoteAddress),
            () => conn.destroy(),
          );
        })
        .catch(() => raw.destroy());
    });
  }

  /** Listens on `host`, port 0 (any free port). */
  static async listen(options: RecoveryListenOptions): Promise<RecoveryListener> {
    return new RecoveryListener(await listenAnyPort(options.host, 8), options);
  }

  close(): void {
    this.#server.close();
  }
}
