import { performance } from 'node:perf_hooks';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { xxh3, xxh32 } from '@node-rs/xxhash';
import { formatBytes } from '@livemig/agent-runtime';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameType,
  MAX_RUN_PAGES,
  PAGE_SIZE,
  PageBatchWriter,
  type Frame,
  type PageCompression,
  crc32,
  isZeroPage,
  pageEncodingName,
  readPageBatch,
} from '@livemig/protocol';
import { pageFiller } from './images.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { mulberry32 } from './rng.js';
import { median, range } from './stats.js';
import { gbPerSecond } from './units.js';

export interface EncodeParams {
  size: number;
  reps: number;
}

export interface EncodeResult {
  /** e.g. `zero check`, `encode lz4`, `decode raw`. */
  case: string;
  /** What the pages hold. */
  pages: 'zero' | 'same-byte' | 'text' | 'random' | 'text, rewritten' | 'incr';
  pageCount: number;
  bytes: number;
  medianMs: number | null;
  /** Page bytes (not wire bytes) per second, median of the repetitions. */
  gbps: number | null;
  minGbps: number | null;
  maxGbps: number | null;
  /** Wire bytes of the page batches (frame headers included) per page byte. */
  wireRatio: number | null;
  /** How many pages got each encoding, as the writer chose it. */
  encodings: Record<string, number> | null;
}

type PageKind = EncodeResult['pages'];

/** The most Node reads from a socket at once. */
const SOCKET_CHUNK_BYTES = 64 * 1024;

/** A guest-memory-like image: pages in one SharedArrayBuffer. */
class SharedPages {
  readonly buffer: SharedArrayBuffer;
  readonly count: number;

  constructor(bytes: number) {
    this.count = Math.floor(bytes / PAGE_SIZE);
    this.buffer = new SharedArrayBuffer(this.count * PAGE_SIZE);
  }

  page(index: number): Uint8Array {
    return new Uint8Array(this.buffer, index * PAGE_SIZE, PAGE_SIZE);
  }

  all(): Buffer {
    return Buffer.from(this.buffer);
  }
}

function fillPages(pages: SharedPages, kind: Exclude<PageKind, 'text, rewritten' | 'incr'>): void {
  const all = pages.all();
  if (kind === 'zero') return;
  if (kind === 'same-byte') {
    for (let i = 0; i < pages.count; i++) all.fill((i % 255) + 1, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
    return;
  }
  pageFiller(kind).fill(all);
}

/** Rewrites a few short runs (1-4 runs of 16 bytes) in each page: a page dirtied again by a typical write. */
function rewritePages(pages: SharedPages, seed: number): void {
  const next = mulberry32(seed);
  const all = pages.all();
  for (let i = 0; i < pages.count; i++) {
    const runs = 1 + (next() % 4);
    for (let r = 0; r < runs; r++) {
      const at = i * PAGE_SIZE + (next() % (PAGE_SIZE - 16));
      for (let b = 0; b < 16; b++) all[at + b] = next() & 0xff;
    }
  }
}

/**
 * Times `body` `reps` times after one untimed warm-up run (JIT, first touch of fresh memory); returns the
 * per-rep milliseconds. `before` runs untimed ahead of each run.
 */
function timeReps(reps: number, body: () => void, before?: () => void): number[] {
  const times: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    before?.();
    const start = performance.now();
    body();
    if (rep > 0) times.push(performance.now() - start);
  }
  return times;
}

function result(
  name: string,
  kind: PageKind,
  pages: SharedPages,
  times: number[],
  wireBytes: number | null,
  encodings: Record<string, number> | null,
): EncodeResult {
  const bytes = pages.count * PAGE_SIZE;
  const speeds = times.map((ms) => gbPerSecond(bytes, ms));
  const spread = range(speeds);
  return {
    case: name,
    pages: kind,
    pageCount: pages.count,
    bytes,
    medianMs: median(times),
    gbps: median(speeds),
    minGbps: spread?.[0] ?? null,
    maxGbps: spread?.[1] ?? null,
    wireRatio: wireBytes === null ? null : wireBytes / bytes,
    encodings,
  };
}

type AddPage = (writer: PageBatchWriter, index: number, page: Uint8Array) => number | undefined;

interface Encoded {
  frames: Buffer[];
  encodings: Record<string, number>;
}

/** Encodes every page into PageBatch frames; returns the frames and the count of each encoding chosen. */
function encodeAll(pages: SharedPages, add: AddPage): Encoded {
  const writer = new PageBatchWriter();
  const frames: Buffer[] = [];
  const counts = new Map<number, number>();
  for (let i = 0; i < pages.count; i++) {
    const page = pages.page(i);
    let encoding = add(writer, i, page);
    if (encoding === undefined) {
      frames.push(writer.takeFrame());
      encoding = add(writer, i, page);
      if (encoding === undefined) throw new Error('PageBatchWriter refused a page in an empty batch');
    }
    counts.set(encoding, (counts.get(encoding) ?? 0) + 1);
  }
  if (writer.pageCount > 0) frames.push(writer.takeFrame());
  const encodings: Record<string, number> = {};
  for (const [code, n] of counts) encodings[pageEncodingName(code)] = n;
  return { frames, encodings };
}

/**
 * As the source's channel threads send consecutive pages: runs of MAX_RUN_PAGES (16) through `addRun`, under
 * `compression` (--compress lz4 by default; zstd and none as the other modes send them).
 */
const encodeInRuns = (compression: PageCompression = 'lz4') => (pages: SharedPages): Encoded => {
  const writer = new PageBatchWriter();
  writer.compression = compression;
  const frames: Buffer[] = [];
  for (let first = 0; first < pages.count; first += MAX_RUN_PAGES) {
    const count = Math.min(MAX_RUN_PAGES, pages.count - first);
    const run = new Uint8Array(pages.buffer, first * PAGE_SIZE, count * PAGE_SIZE);
    const add = (): boolean => (count === 1 ? writer.add(first, run) !== undefined : writer.addRun(first, run));
    if (!add()) {
      frames.push(writer.takeFrame());
      if (!add()) throw new Error('PageBatchWriter refused a run in an empty batch');
    }
  }
  if (writer.pageCount > 0) frames.push(writer.takeFrame());
  const encodings = Object.fromEntries(Object.entries(writer.stats.pages).filter(([, n]) => n > 0));
  return { frames, encodings };
};

/**
 * As a channel thread builds PageBatchDirect (direct-pages-v2): one page at a time, each batch taken as its head
 * and views of its raw pages (no copy of them). Returns every batch's parts, in order.
 */
function encodeDirect(pages: SharedPages): Buffer[][] {
  const writer = new PageBatchWriter();
  writer.direct = true;
  const batches: Buffer[][] = [];
  for (let i = 0; i < pages.count; i++) {
    if (writer.add(i, pages.page(i)) === undefined) {
      batches.push(writer.takeParts());
      if (writer.add(i, pages.page(i)) === undefined) throw new Error('PageBatchWriter refused a page in an empty batch');
    }
  }
  if (writer.pageCount > 0) batches.push(writer.takeParts());
  return batches;
}

function decodeAll(frames: Buffer[], target: SharedPages): void {
  const sink = { pageCount: target.count, page: (index: number) => target.page(index) };
  for (const frame of frames) readPageBatch(frame.subarray(FRAME_HEADER_BYTES), sink);
}

/** Fresh copies of `stream` in 64 KiB pieces, as a socket's reads arrive. */
function* chunksOf(stream: Buffer): Generator<Buffer> {
  for (let at = 0; at < stream.length; at += SOCKET_CHUNK_BYTES) yield Buffer.from(stream.subarray(at, at + SOCKET_CHUNK_BYTES));
}

/** As a destination channel thread: FrameDecoder (the frame's CRC), then readPageBatch with the page CRCs. */
function receive(chunks: Iterable<Buffer>, target: SharedPages): void {
  const decoder = new FrameDecoder();
  for (const chunk of chunks) apply(decoder, decoder.push(chunk), target);
}

/**
 * As `receive`, reading the way a plain-TCP data channel now does (FrameDecoder.readTarget/commitRead): each
 * read lands in the decoder's own buffer, at most a frame's rest and at most 64 KiB. The copy out of `stream`
 * stands for the kernel's, which `chunksOf` makes into a fresh buffer instead.
 */
function receiveOwned(stream: Buffer, target: SharedPages): void {
  const decoder = new FrameDecoder();
  for (let at = 0; at < stream.length; ) {
    const into = decoder.readTarget();
    const n = stream.copy(into, 0, at, at + Math.min(into.length, SOCKET_CHUNK_BYTES));
    at += n;
    apply(decoder, decoder.commitRead(n), target);
  }
}

function apply(decoder: FrameDecoder, frames: Frame[], target: SharedPages): void {
  const sink = { pageCount: target.count, page: (index: number) => target.page(index) };
  for (const frame of frames) {
    if (frame.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    readPageBatch(frame.payload, sink, () => {}, frame.rawPageCrcs, frame.rawAt);
    decoder.release(frame);
  }
}

const wireBytesOf = (frames: Buffer[]): number => frames.reduce((sum, f) => sum + f.length, 0);

const plainAdd: AddPage = (writer, index, page) => writer.add(index, page);
const onePageAtATime = (add: AddPage) => (pages: SharedPages) => encodeAll(pages, add);

/** Runs encode then decode on one kind of page; decode goes into a second SharedArrayBuffer. */
function encodeDecode(
  name: string,
  kind: PageKind,
  pages: SharedPages,
  reps: number,
  encoder: (pages: SharedPages) => Encoded,
  resetTarget?: (t: SharedPages) => void,
): EncodeResult[] {
  let last: Encoded = { frames: [], encodings: {} };
  const encodeTimes = timeReps(reps, () => {
    last = encoder(pages);
  });
  const target = new SharedPages(pages.count * PAGE_SIZE);
  target.all().fill(0xa5);
  const decodeTimes = timeReps(
    reps,
    () => decodeAll(last.frames, target),
    resetTarget === undefined ? undefined : () => resetTarget(target),
  );
  if (Buffer.compare(target.all(), pages.all()) !== 0) throw new Error(`decode ${name}: the decoded pages differ from the encoded ones`);
  const wire = wireBytesOf(last.frames);
  return [
    result(`encode ${name}`, kind, pages, encodeTimes, wire, last.encodings),
    result(`decode ${name}`, kind, pages, decodeTimes, wire, last.encodings),
  ];
}

export function encode(params: EncodeParams): BenchOutput<EncodeParams, EncodeResult> {
  const notes: string[] = [];
  const results: EncodeResult[] = [];
  const { size, reps } = params;
  const report = (rows: EncodeResult[]): void => {
    for (const r of rows) progress(`${r.case}: ${fixed(r.gbps, 2)} GB/s`);
    results.push(...rows);
  };

  // Each SharedArrayBuffer goes out of scope after its case, so at most three of `size` are alive at once.
  {
    const zero = new SharedPages(size);
    report([
      result('zero check', 'zero', zero, timeReps(reps, () => {
        for (let i = 0; i < zero.count; i++) if (!isZeroPage(zero.page(i))) throw new Error(`page ${i} is not zero`);
      }), null, null),
    ]);
    report(encodeDecode('zero', 'zero', zero, reps, onePageAtATime(plainAdd)));
  }
  {
    const sameByte = new SharedPages(size);
    fillPages(sameByte, 'same-byte');
    report(encodeDecode('same-byte', 'same-byte', sameByte, reps, onePageAtATime(plainAdd)));
  }
  {
    const random = new SharedPages(size);
    fillPages(random, 'random');
    report(encodeDecode('raw', 'random', random, reps, onePageAtATime(plainAdd)));
    // The CRC-32 every page gets, as the codecs take it (crc32, @node-rs/crc32), against Node's own.
    const crcEveryPage = (crc: (page: Uint8Array) => number) => () => {
      for (let i = 0; i < random.count; i++) crc(random.page(i));
    };
    // What a destination channel thread does with the same frames: the frame check, then the pages. A socket
    // hands them over in fresh chunks of up to 64 KiB, so the decoder first copies each frame into one buffer.
    const { frames } = encodeAll(random, plainAdd);
    const target = new SharedPages(random.count * PAGE_SIZE);
    const stream = Buffer.concat(frames);
    report([
      result('frame check + decode raw, whole frames', 'random', random, timeReps(reps, () => receive(frames, target)), null, null),
      result('frame check + decode raw, 64 KiB chunks', 'random', random, timeReps(reps, () => receive(chunksOf(stream), target)), null, null),
      result('frame check + decode raw, owned reads', 'random', random, timeReps(reps, () => receiveOwned(stream, target)), null, null),
    ]);
    // The same pages in PageBatchDirect: the raw pages stay where they are (the kernel reads them on send).
    let direct: Buffer[][] = [];
    const directTimes = timeReps(reps, () => {
      direct = encodeDirect(random);
    });
    const directStream = Buffer.concat(direct.flat());
    target.all().fill(0xa5);
    receive([directStream], target);
    if (Buffer.compare(target.all(), random.all()) !== 0) throw new Error('direct batches: the decoded pages differ from the encoded ones');
    report([
      result('encode raw, direct (PageBatchDirect, no copy)', 'random', random, directTimes, directStream.length, { raw: random.count }),
      result('frame check + decode raw, direct, 64 KiB chunks', 'random', random, timeReps(reps, () => receive(chunksOf(directStream), target)), null, null),
    ]);
    report([
      result('crc32 per page (@node-rs/crc32)', 'random', random, timeReps(reps, crcEveryPage(crc32)), null, null),
      result('crc32 per page (zlib.crc32)', 'random', random, timeReps(reps, crcEveryPage(zlibCrc32)), null, null),
      // The candidate faster page hash (issue 11): XXH3-64 and XXH32 from @node-rs/xxhash, one call per page.
      result('xxh3-64 per page (@node-rs/xxhash)', 'random', random, timeReps(reps, crcEveryPage((page) => Number(xxh3.xxh64(page) & 0xffffffffn))), null, null),
      result('xxh32 per page (@node-rs/xxhash)', 'random', random, timeReps(reps, crcEveryPage((page) => xxh32(page))), null, null),
    ]);
  }

  const text = new SharedPages(size);
  fillPages(text, 'text');
  report(encodeDecode('lz4', 'text', text, reps, onePageAtATime(plainAdd)));
  report(encodeDecode(`lz4 runs of ${MAX_RUN_PAGES} pages`, 'text', text, reps, encodeInRuns('lz4')));
  // The same pages as --compress zstd and none send them: zstd against lz4 on the same bytes.
  report(encodeDecode(`zstd runs of ${MAX_RUN_PAGES} pages`, 'text', text, reps, encodeInRuns('zstd')));
  report(encodeDecode(`no compression, runs of ${MAX_RUN_PAGES} pages`, 'text', text, reps, encodeInRuns('none')));

  // Delta pages: each text page rewritten in a few places, encoded against its previous version.
  const rewritten = new SharedPages(size);
  rewritten.all().set(text.all());
  rewritePages(rewritten, 7);
  const deltaAdd: AddPage = (writer, index, page) => writer.add(index, page, text.page(index));
  report(encodeDecode('delta', 'text, rewritten', rewritten, reps, onePageAtATime(deltaAdd), (t) => t.all().set(text.all())));
  report(incrCases(size, reps));
  notes.push(`one thread; ${formatBytes(size)} of pages per case in a SharedArrayBuffer; decode writes into a second one`);
  notes.push('incr: the pages of issue 11\'s incr guest at stop-and-copy, zero but for byte 0 (2; the delta is against 1)');
  return { bench: 'encode', machine: machine(), params, results, notes };
}

export function formatEncode(output: BenchOutput<EncodeParams, EncodeResult>): string {
  const rows = output.results.map((r) => [
    r.case,
    r.pages,
    fixed(r.gbps, 2),
    r.minGbps === null ? '-' : `${r.minGbps.toFixed(2)}..${fixed(r.maxGbps, 2)}`,
    r.wireRatio === null ? '-' : `${(100 * r.wireRatio).toFixed(1)}%`,
    r.encodings === null ? '' : Object.entries(r.encodings).map(([k, v]) => `${k} ${v}`).join(', '),
  ]);
  return table(['case', 'pages', 'GB/s', 'min..max', 'wire/page', 'encodings'], rows);
}

/**
 * The final round of issue 11's incr guest: every page zero but for a counter in byte 0, one increment past
 * the copy sent before. Each way a channel thread can send them, encode and decode (what the destination does).
 */
function incrCases(size: number, reps: number): EncodeResult[] {
  const previous = new SharedPages(size);
  const pages = new SharedPages(size);
  for (let i = 0; i < pages.count; i++) {
    previous.all()[i * PAGE_SIZE] = 1;
    pages.all()[i * PAGE_SIZE] = 2;
  }
  const deltaAdd: AddPage = (writer, index, page) => writer.add(index, page, previous.page(index));
  const fromPrevious = (t: SharedPages): void => t.all().set(previous.all());
  return [
    ...encodeDecode(`incr, lz4 runs of ${MAX_RUN_PAGES} pages`, 'incr', pages, reps, encodeInRuns('lz4')),
    ...encodeDecode(`incr, zstd runs of ${MAX_RUN_PAGES} pages`, 'incr', pages, reps, encodeInRuns('zstd')),
    ...encodeDecode(`incr, no compression, runs of ${MAX_RUN_PAGES}`, 'incr', pages, reps, encodeInRuns('none')),
    ...encodeDecode('incr, delta against the copy sent before', 'incr', pages, reps, onePageAtATime(deltaAdd), fromPrevious),
  ];
}
