import { FrameType, PAGE_SIZE } from './constants.js';
import { FrameDecoder } from './frame-decoder.js';
import { readPageBatch } from './page-batch-reader.js';
import { PageBatchWriter } from './page-batch-writer.js';

/** Distinct synthetic pages the warm-up cycles through: zero, same-byte, text-like, random, sparse lines; and a sparse run. */
const KINDS = 16;
/** Pages per slice of the background warm-up: a few milliseconds, so real work waits at most that long. */
const SLICE_PAGES = 256;

/**
 * Runs the page encoder (pages one by one and in runs), the frame check and the decoder, page CRCs included,
 * over a few thousand synthetic pages of every kind, so that V8 has
 * compiled them to optimised code before a migration needs them. A channel thread spawned ahead of a
 * migration otherwise meets this code for the first time in round 1, and a small stop-and-copy round runs it
 * before it is optimised: in one measurement the same warm-up took 90 ms cold and 50 ms warm. Costs tens of
 * milliseconds of CPU, spent while the thread waits for its assignment, in slices between the thread's other
 * events so that a migration that starts at once is not held up: `stop()` (call when the thread's real work
 * arrives) ends it after the current slice.
 */
export function warmUpPageCodecsInBackground(pages = 4096): { stop(): void } {
  const codecs = syntheticCodecRun();
  let done = 0;
  let stopped = false;
  const slice = (): void => {
    if (stopped || done >= pages) return;
    codecs.run(done, SLICE_PAGES);
    done += SLICE_PAGES;
    setImmediate(slice);
  };
  setImmediate(slice);
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/** The synthetic pages, their "sent before" copies and a writer, built once; `run` encodes, decodes, CRCs. */
function syntheticCodecRun(): { run(from: number, count: number): void } {
  const source = new Uint8Array(new SharedArrayBuffer(KINDS * PAGE_SIZE));
  const previous = new Uint8Array(KINDS * PAGE_SIZE);
  const target = new Uint8Array(new SharedArrayBuffer(KINDS * PAGE_SIZE));
  let seed = 0x9e3779b9;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  // Kind 0 stays zero.
  for (let kind = 1; kind < KINDS; kind++) {
    const page = source.subarray(kind * PAGE_SIZE, (kind + 1) * PAGE_SIZE);
    if (kind === 1) page.fill(0xff);
    else if (kind < 6) for (let i = 0; i < PAGE_SIZE; i++) page[i] = 97 + ((i * 7 + kind) % 26) * (i % 5 === 0 ? 0 : 1);
    else if (kind < 10) for (let i = 0; i < PAGE_SIZE; i++) page[i] = random() & 0xff;
    else {
      for (let line = 0; line < kind - 8; line++) {
        const at = (random() % 64) * 64;
        for (let i = 0; i < 64; i++) page[at + i] = random() & 0xff;
      }
    }
  }
  // The copy "sent before" differs from each page in one byte: what delta encoding meets on resent pages.
  previous.set(source);
  for (let kind = 0; kind < KINDS; kind++) {
    const flip = kind * PAGE_SIZE + (random() % PAGE_SIZE);
    previous[flip] = previous[flip]! ^ 0x5a;
  }
  // A sparse run, as incr's pages: zero but for one byte each (page-sparse-run.ts builds its tables on first use).
  const sparse = new Uint8Array(new SharedArrayBuffer(KINDS * PAGE_SIZE));
  for (let kind = 0; kind < KINDS; kind++) sparse[kind * PAGE_SIZE + ((kind * 613) % PAGE_SIZE)] = 1 + kind;
  const writer = new PageBatchWriter();
  const sink = { pageCount: KINDS, page: (index: number) => target.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE) };
  const decoder = new FrameDecoder();
  const onPage = (): void => {};
  const flush = (): void => {
    for (const frame of decoder.push(writer.takeFrame())) {
      if (frame.type === FrameType.PageBatch) readPageBatch(frame.payload, sink, onPage, frame.rawPageCrcs);
      decoder.release(frame);
    }
  };
  return {
    run(from, count) {
      for (let i = from; i < from + count; i++) {
        const kind = i % KINDS;
        const page = source.subarray(kind * PAGE_SIZE, (kind + 1) * PAGE_SIZE);
        const before = i % 2 === 0 ? previous.subarray(kind * PAGE_SIZE, (kind + 1) * PAGE_SIZE) : undefined;
        if (writer.add(kind, page, before) === undefined) {
          flush();
          writer.add(kind, page, before);
        }
      }
      // Every kind once more, as one run of consecutive pages; then the sparse run.
      for (const run of [source, sparse]) {
        if (!writer.addRun(0, run)) {
          flush();
          writer.addRun(0, run);
        }
      }
      flush();
    },
  };
}
