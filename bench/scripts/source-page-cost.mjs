// The source's CPU per page, in process, one thread: PageBatchWriter as a channel thread drives it (runs of 16
// pages through addRun, direct batches closed at 1024 pages) over 32,768 pages of two images, incr (zero but for
// byte 0) and random, under each compression; and the steps a page may cost alone. Prints median ns per page.
// Not a `bench` subcommand: it takes the protocol package's dist directory, so that two builds (main's and a
// branch's) can be run alternately on the same host (docs/PERFORMANCE.md, "The source's per-page CPU").
//
//   node bench/scripts/source-page-cost.mjs "$PWD/packages/protocol/dist" [reps]
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
if (!dist) throw new Error('usage: node source-page-cost.mjs PROTOCOL_DIST_DIR [reps]');
const reps = Number(process.argv[3] ?? 5);
const { PageBatchWriter, crc32, PAGE_SIZE } = await import(pathToFileURL(`${dist}/index.js`).href);
const { sampleDistinctBytes } = await import(pathToFileURL(`${dist}/page-sample.js`).href);
const lz4 = createRequire(`${dist}/index.js`)('lz4');
const PAGES = 32768;
const RUN = 16;
const BATCH_PAGES = 1024;

function image(kind) {
  const bytes = new Uint8Array(new SharedArrayBuffer(PAGES * PAGE_SIZE));
  if (kind === 'incr') for (let i = 0; i < PAGES; i++) bytes[i * PAGE_SIZE] = 2;
  else for (let at = 0; at < bytes.length; at += 65536) randomFillSync(bytes, at, 65536);
  return bytes;
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** Median over `reps` timed passes (after one untimed) of ns per page. */
function nsPerPage(body) {
  const times = [];
  for (let rep = 0; rep <= reps; rep++) {
    const start = process.hrtime.bigint();
    body();
    if (rep > 0) times.push(Number(process.hrtime.bigint() - start) / PAGES);
  }
  return Math.round(median(times));
}

function writerPass(memory, compression) {
  const writer = new PageBatchWriter();
  writer.direct = true;
  writer.compression = compression;
  const crcs = new Uint32Array(PAGES);
  return () => {
    for (let first = 0; first < PAGES; first += RUN) {
      const run = new Uint8Array(memory.buffer, first * PAGE_SIZE, RUN * PAGE_SIZE);
      if (writer.pageCount >= BATCH_PAGES || !writer.addRun(first, run)) {
        writer.takeParts();
        writer.addRun(first, run);
      }
      for (let k = 0; k < RUN; k++) crcs[first + k] = writer.runPageCrcs[k];
    }
    if (writer.pageCount > 0) writer.takeParts();
  };
}

const out = { load: (await import('node:os')).loadavg()[0] };
for (const kind of ['incr', 'random']) {
  const memory = image(kind);
  const bytes = Buffer.from(memory.buffer);
  const scratch = Buffer.allocUnsafe(RUN * PAGE_SIZE + 1024);
  out[kind] = {
    'writer, lz4': nsPerPage(writerPass(memory, 'lz4')),
    'writer, none': nsPerPage(writerPass(memory, 'none')),
    'writer, zstd': nsPerPage(writerPass(memory, 'zstd')),
    'step: crc32 of a page (view + call)': nsPerPage(() => {
      for (let i = 0; i < PAGES; i++) crc32(bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
    }),
    'step: repeated-byte memcmp': nsPerPage(() => {
      for (let at = 0; at < bytes.length; at += PAGE_SIZE) bytes.compare(bytes, at, at + PAGE_SIZE - 1, at + 1, at + PAGE_SIZE);
    }),
    'step: sample': nsPerPage(() => {
      for (let i = 0; i < PAGES; i++) sampleDistinctBytes(bytes, i * PAGE_SIZE);
    }),
    'step: lz4 of a 16-page run, per page': nsPerPage(() => {
      for (let i = 0; i < PAGES; i += RUN) lz4.encodeBlock(bytes.subarray(i * PAGE_SIZE, (i + RUN) * PAGE_SIZE), scratch, 0, scratch.length);
    }),
  };
}
console.log(JSON.stringify(out));
