// The destination's CPU per raw page, in process, one thread: PageBatchDirect frames of random pages (as a source's
// channel builds them, 63 raw pages a batch) decoded as a destination channel does (`FrameDecoder.push` of whole
// frames: the head's check and the raw pages' CRCs, then `readPageBatch` into a pre-touched SharedArrayBuffer with
// the page table recorded). No socket, so no kernel copy: what is left is ours. Prints median ns per page.
// Not a `bench` subcommand: it takes the protocol package's dist directory, so that two builds (main's and a
// branch's) run alternately on the same host (docs/PERFORMANCE.md, "Where the CPU goes per side").
//
//   node bench/scripts/dest-page-cost.mjs "$PWD/packages/protocol/dist" [reps]
import { randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
if (!dist) throw new Error('usage: node dest-page-cost.mjs PROTOCOL_DIST_DIR [reps]');
const reps = Number(process.argv[3] ?? 9);
const { FrameDecoder, PageBatchWriter, PageChecksums, readPageBatch, PAGE_SIZE } = await import(pathToFileURL(`${dist}/index.js`).href);
const PAGES = 32768;

const source = new Uint8Array(new SharedArrayBuffer(PAGES * PAGE_SIZE));
for (let at = 0; at < source.length; at += 65536) randomFillSync(source, at, 65536);
const guest = new Uint8Array(new SharedArrayBuffer(PAGES * PAGE_SIZE)).fill(1);

// The stream: direct batches, pages added in runs of 16 as a channel thread adds them.
const writer = new PageBatchWriter();
writer.direct = true;
const frames = [];
for (let first = 0; first < PAGES; first += 16) {
  const run = new Uint8Array(source.buffer, first * PAGE_SIZE, 16 * PAGE_SIZE);
  if (!writer.addRun(first, run)) {
    frames.push(Buffer.concat(writer.takeParts()));
    writer.addRun(first, run);
  }
}
frames.push(Buffer.concat(writer.takeParts()));

const sink = { pageCount: PAGES, slotOf: () => guest, offsetOf: (index) => index * PAGE_SIZE };
const table = PageChecksums.create(PAGES);
const onPage = (index, _encoding, crc) => table.record(index, crc);
function decodeAll() {
  const decoder = new FrameDecoder();
  for (const bytes of frames) {
    for (const frame of decoder.push(bytes)) {
      readPageBatch(frame.payload, sink, onPage, frame.rawPageCrcs, frame.rawAt);
      decoder.release(frame);
    }
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
decodeAll(); // warm
const times = [];
for (let r = 0; r < reps; r++) {
  const start = process.hrtime.bigint();
  decodeAll();
  times.push(Number(process.hrtime.bigint() - start) / PAGES);
}
if (Buffer.compare(Buffer.from(guest.buffer), Buffer.from(source.buffer)) !== 0) throw new Error('decoded pages differ');
process.stdout.write(`${JSON.stringify({ dist, frames: frames.length, nsPerPage: Math.round(median(times)), range: [Math.round(Math.min(...times)), Math.round(Math.max(...times))] })}\n`);
