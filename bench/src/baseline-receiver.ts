/**
 * Baseline receiver: `node baseline-receiver.js BYTES [touched|fresh] [HOST] [CONNECTIONS]`. Allocates BYTES of
 * SharedArrayBuffer slots of at most 1 GiB, as guest memory, and starts CONNECTIONS (default 1) worker threads,
 * one per connection, as a destination's channel threads; each listens on HOST (default 127.0.0.1), port 0,
 * accepts one connection and copies every chunk into its contiguous share of the slots (`connectionRanges`).
 * Prints `listening HOST:PORT[,PORT...]` once every worker listens. `touched` (the default) writes every page
 * before listening, so no page fault lands in the timing; `fresh` leaves them untouched, as a destination's new
 * guest memory is, so every first write of a page faults it in (in the worker that writes it). Prints one JSON
 * line `{"bytes":N,"ms":T}`: T runs from the first accepted connection to the last byte of the last one.
 */
import { Worker } from 'node:worker_threads';
import { connectionRanges } from './baseline-ranges.js';
import { SLOT_BYTES } from './images.js';

const bytes = Number(process.argv[2]);
const memory = process.argv[3] ?? 'touched';
const host = process.argv[4] ?? '127.0.0.1';
const connections = Number(process.argv[5] ?? '1');
if (!Number.isSafeInteger(bytes) || bytes <= 0 || (memory !== 'touched' && memory !== 'fresh') || !Number.isSafeInteger(connections) || connections < 1) {
  process.stderr.write(`usage: baseline-receiver BYTES [touched|fresh] [HOST] [CONNECTIONS]\n`);
  process.exit(2);
}

const slots: SharedArrayBuffer[] = [];
for (let at = 0; at < bytes; at += SLOT_BYTES) {
  const slot = new SharedArrayBuffer(Math.min(SLOT_BYTES, bytes - at));
  if (memory === 'touched') new Uint8Array(slot).fill(1);
  slots.push(slot);
}

/** A worker's report: `listening` with its port, then `done` with its clock readings (timeOrigin + now, one clock for all threads). */
type WorkerMessage = { port: number } | { bytes: number; acceptedAt: number; lastByteAt: number } | { error: string };

const workers = connectionRanges(bytes, connections).map(
  (range) => new Worker(new URL('./baseline-receiver-worker.js', import.meta.url), { workerData: { slots, slotBytes: SLOT_BYTES, host, range } }),
);
const ports: number[] = [];
const done: { bytes: number; acceptedAt: number; lastByteAt: number }[] = [];
await Promise.all(
  workers.map(
    (worker, i) =>
      new Promise<void>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (message: WorkerMessage) => {
          if ('port' in message) {
            ports[i] = message.port;
            if (ports.filter((p) => p !== undefined).length === connections) process.stdout.write(`listening ${host}:${ports.join(',')}\n`);
          } else if ('error' in message) {
            reject(new Error(message.error));
          } else {
            done.push(message);
            resolve();
          }
        });
      }),
  ),
).catch((err: Error) => {
  process.stderr.write(`baseline-receiver: ${err.message}\n`);
  process.exit(1);
});
const received = done.reduce((sum, d) => sum + d.bytes, 0);
const ms = Math.max(...done.map((d) => d.lastByteAt)) - Math.min(...done.map((d) => d.acceptedAt));
process.stdout.write(`${JSON.stringify({ bytes: received, ms })}\n`);
await Promise.all(workers.map((worker) => worker.terminate()));
