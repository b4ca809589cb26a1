import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/** A server listening on `host`, on any free port, taking at most `maxConnections` at once (post-copy's own ports). */
export async function listenAnyPort(host: string, maxConnections: number): Promise<Server> {
  const server = createServer();
  server.maxConnections = maxConnections;
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}
