/**
 * First-touch child: `node first-touch-child.js BYTES MODE`, MODE one of `fresh`, `touched`, `prefault`.
 * Allocates BYTES of SharedArrayBuffer slots, as guest memory is, and fills them from a 4 MiB random chunk in
 * 64 KiB copies, as a channel thread writes received pages. `touched` writes one byte per page first (not
 * timed); `prefault` starts a worker that pre-faults the slots (Atomics.add of 0 per page, which faults the
 * page in for writing and can never change a byte the filler wrote) at the same moment the fill starts.
 * Prints one JSON line `{"ms":T}`: the fill's time.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { SLOT_BYTES } from './images.js';

const bytes = Number(process.argv[2]);
const mode = process.argv[3];
if (!Number.isSafeInteger(bytes) || bytes <= 0 || (mode !== 'fresh' && mode !== 'touched' && mode !== 'prefault')) {
  process.stderr.write('usage: first-touch-child BYTES fresh|touched|prefault\n');
  process.exit(2);
}

const PAGE = 4096;
const COPY = 64 * 1024;
const source = randomFillSync(Buffer.alloc(4 * 1024 * 1024));
const slots: SharedArrayBuffer[] = [];
for (let at = 0; at < bytes; at += SLOT_BYTES) slots.push(new SharedArrayBuffer(Math.min(SLOT_BYTES, bytes - at)));
if (mode === 'touched') for (const slot of slots) new Uint8Array(slot).fill(1);

const PREFAULT = `
const { workerData, parentPort } = require('node:worker_threads');
for (const slot of workerData) {
  const words = new Int32Array(slot);
  for (let i = 0; i < words.length; i += ${PAGE / 4}) Atomics.add(words, i, 0);
}
parentPort.postMessage('done');
`;

const worker = mode === 'prefault' ? new Worker(PREFAULT, { eval: true, workerData: slots }) : null;
if (worker) await new Promise((resolve) => worker.once('online', resolve));
const start = performance.now();
for (const slot of slots) {
  const view = new Uint8Array(slot);
  for (let at = 0; at < view.length; at += COPY) view.set(source.subarray(at % source.length, (at % source.length) + Math.min(COPY, view.length - at)), at);
}
const ms = performance.now() - start;
process.stdout.write(`${JSON.stringify({ ms })}\n`);
if (worker) await worker.terminate();
