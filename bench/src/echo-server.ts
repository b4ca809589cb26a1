/**
 * Echo server for the round-trip baseline: `node echo-server.js`. Listens on 127.0.0.1, port 0, prints
 * `listening HOST:PORT`, and writes every chunk of its one connection back as it arrives (no Nagle delay), so
 * that the other end times a loopback round trip between two Node processes, as Committed and Confirm travel.
 */
import { createServer } from 'node:net';

const server = createServer((socket) => {
  server.close();
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => socket.write(chunk));
  socket.on('error', () => process.exit(1));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { address: string; port: number };
  process.stdout.write(`listening ${address.address}:${address.port}\n`);
});
