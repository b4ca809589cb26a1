/**
 * First-touch child: `node first-touch-child.js BYTES MODE`, MODE one of FIRST_TOUCH_MODES (first-touch.ts).
 * Allocates BYTES of SharedArrayBuffer slots, as guest memory is, and fills them from a 4 MiB random chunk in
 * 64 KiB copies, as a channel thread writes received pages. Modes:
 * - `fresh`: 1 GiB slots never touched; `small-slots`: the same in 64 MiB slots (another allocation size class);
 * - `touched`: one byte per page written first (not timed);
 * - `prefault`: a worker pre-faults the slots (Atomics.add of 0 per page, which faults the page in for writing and
 *   can never change a byte the filler wrote) at the same moment the fill starts;
 * - `reused`: slots touched before (not timed), as a pooled guest's memory would be, zeroed then filled (timed):
 *   what reusing a previous guest's memory costs when the zeroing is on the path;
 * - `second`: touched slots are dropped and collected first (not timed), then fresh ones are allocated and
 *   filled: does a process's second allocation get its memory back cheaper?
 * Prints one JSON line `{"ms":T,"anonHugeKiB":K}`: the fill's time and the process's transparent huge pages after it.
 */
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { SLOT_BYTES } from './images.js';

const MODES = ['fresh', 'small-slots', 'touched', 'prefault', 'reused', 'second'];
const bytes = Number(process.argv[2]);
const mode = process.argv[3] ?? '';
if (!Number.isSafeInteger(bytes) || bytes <= 0 || !MODES.includes(mode)) {
  process.stderr.write(`usage: first-touch-child BYTES ${MODES.join('|')}\n`);
  process.exit(2);
}

const PAGE = 4096;
const COPY = 64 * 1024;
const SMALL_SLOT_BYTES = 64 * 1024 * 1024;
const source = randomFillSync(Buffer.alloc(4 * 1024 * 1024));
const allocate = (slotBytes: number): SharedArrayBuffer[] => {
  const slots: SharedArrayBuffer[] = [];
  for (let at = 0; at < bytes; at += slotBytes) slots.push(new SharedArrayBuffer(Math.min(slotBytes, bytes - at)));
  return slots;
};
const touch = (slots: SharedArrayBuffer[]): void => {
  for (const slot of slots) {
    const view = new Uint8Array(slot);
    for (let at = 0; at < view.length; at += PAGE) view[at] = 1;
  }
};

if (mode === 'second') {
  touch(allocate(SLOT_BYTES));
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
const slots = allocate(mode === 'small-slots' ? SMALL_SLOT_BYTES : SLOT_BYTES);
if (mode === 'touched' || mode === 'reused') touch(slots);

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
  if (mode === 'reused') view.fill(0);
  for (let at = 0; at < view.length; at += COPY) view.set(source.subarray(at % source.length, (at % source.length) + Math.min(COPY, view.length - at)), at);
}
const ms = performance.now() - start;
const anonHuge = /^AnonHugePages:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
process.stdout.write(`${JSON.stringify({ ms, anonHugeKiB: anonHuge ? Number(anonHuge[1]) : null })}\n`);
if (worker) await worker.terminate();
