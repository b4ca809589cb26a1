/**
 * One connection of the baseline receiver: listens on port 0 of `host`, posts `{port}`, accepts one connection
 * and copies its bytes into [range.from, range.to) of the slots (each `slotBytes` long but the last), then posts
 * `{bytes, acceptedAt, lastByteAt}` (timeOrigin + now, the same clock in every thread).
 */
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { ByteRange } from './baseline-ranges.js';

const { slots, slotBytes, host, range } = workerData as { slots: SharedArrayBuffer[]; slotBytes: number; host: string; range: ByteRange };
const views = slots.map((slot) => Buffer.from(slot));
const now = (): number => performance.timeOrigin + performance.now();

const server = createServer((socket) => {
  server.close();
  const acceptedAt = now();
  let at = range.from;
  const finish = (): void => {
    parentPort!.postMessage({ bytes: at - range.from, acceptedAt, lastByteAt: now() });
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    let from = 0;
    while (from < chunk.length) {
      if (at >= range.to) {
        parentPort!.postMessage({ error: `more than ${range.to - range.from} bytes arrived on one connection` });
        return;
      }
      const target = views[Math.floor(at / slotBytes)]!;
      const offset = at % slotBytes;
      const n = chunk.copy(target, offset, from, from + Math.min(chunk.length - from, target.length - offset, range.to - at));
      from += n;
      at += n;
    }
    if (at === range.to) finish();
  });
  // An empty share (more connections than pages) is complete once its sender connects.
  if (at === range.to) finish();
  socket.on('end', () => {
    if (at < range.to) parentPort!.postMessage({ error: `connection ended after ${at - range.from} of ${range.to - range.from} bytes` });
  });
});
server.listen(0, host, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  parentPort!.postMessage({ port: address.port });
});
