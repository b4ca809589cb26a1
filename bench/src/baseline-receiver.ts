/**
 * Baseline receiver: `node baseline-receiver.js BYTES [touched|fresh] [HOST]`. Listens on HOST (default 127.0.0.1), port 0, and prints
 * `listening HOST:PORT`. Accepts one connection and copies every chunk into a preallocated buffer of BYTES
 * (SharedArrayBuffer slots of at most 1 GiB, as guest memory). `touched` (the default) writes every page before
 * listening, so no page fault lands in the timing; `fresh` leaves them untouched, as a destination's new guest
 * memory is, so every first write of a page faults it in. Prints one JSON line
 * `{"bytes":N,"ms":T}`: T runs from the accepted connection to the last byte.
 */
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SLOT_BYTES } from './images.js';

const bytes = Number(process.argv[2]);
const memory = process.argv[3] ?? 'touched';
if (!Number.isSafeInteger(bytes) || bytes <= 0 || (memory !== 'touched' && memory !== 'fresh')) {
  process.stderr.write(`usage: baseline-receiver BYTES [touched|fresh]\n`);
  process.exit(2);
}

const slots: Buffer[] = [];
for (let at = 0; at < bytes; at += SLOT_BYTES) {
  const slot = Buffer.from(new SharedArrayBuffer(Math.min(SLOT_BYTES, bytes - at)));
  if (memory === 'touched') slot.fill(1);
  slots.push(slot);
}

const server = createServer((socket) => {
  server.close();
  const start = performance.now();
  let received = 0;
  let slot = 0;
  let offset = 0;
  socket.on('data', (chunk: Buffer) => {
    let from = 0;
    while (from < chunk.length) {
      const target = slots[slot];
      if (target === undefined) {
        process.stderr.write(`baseline-receiver: more than ${bytes} bytes arrived\n`);
        process.exit(1);
      }
      const n = chunk.copy(target, offset, from);
      from += n;
      offset += n;
      received += n;
      if (offset === target.length) {
        slot += 1;
        offset = 0;
      }
    }
    if (received === bytes) {
      const ms = performance.now() - start;
      process.stdout.write(`${JSON.stringify({ bytes: received, ms })}\n`);
      socket.destroy();
    }
  });
  socket.on('end', () => {
    if (received < bytes) {
      process.stderr.write(`baseline-receiver: connection ended after ${received} of ${bytes} bytes\n`);
      process.exitCode = 1;
    }
  });
});
server.listen(0, process.argv[4] ?? '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.stdout.write(`listening ${address.address}:${address.port}\n`);
});
