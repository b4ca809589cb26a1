// zstd on an image file, one core: each 16-page run compressed on its own (today's ZstdRun blocks) against one
// stream per channel flushed at every run (ZSTD_e_flush: each run's output decodes on arrival, the window
// carries over), by level and window. Prints wire % (compressed / image bytes) and encode/decode MB/s, medians
// of `reps` passes with the modes alternated within each pass. Not a `bench` subcommand: the image comes from
// outside (e.g. the `real` image that `bench links --images real` makes, written to a file).
//
//   node bench/scripts/zstd-stream-ratio.mjs IMAGE_FILE [reps] [levels=1,3,6,9] [windowLogs=0,23] [flushEvery=1]
//
// A window of `27ldm` is windowLog 27 with long-distance matching; flushEvery flushes every that many runs
// (a large number: one frame for the whole image, the ceiling of what a stream can find).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../packages/protocol/package.json', import.meta.url));
const zstd = require('zstd-napi/binding.js');
const [file, repsArg, levelsArg, windowsArg, flushArg] = process.argv.slice(2);
if (!file) throw new Error('usage: node zstd-stream-ratio.mjs IMAGE_FILE [reps] [levels] [windowLogs]');
const reps = Number(repsArg ?? 3);
const levels = (levelsArg ?? '1,3,6,9').split(',').map(Number);
const windows = (windowsArg ?? '0,23').split(','); // 0: the level's own window
const flushEvery = Number(flushArg ?? 1);
const image = readFileSync(file);
const RUN = 16 * 4096;
const runs = [];
for (let at = 0; at + RUN <= image.length; at += RUN) runs.push(image.subarray(at, at + RUN));
const out = Buffer.allocUnsafe(RUN * 2);
const back = Buffer.allocUnsafe(RUN);
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

function blocks(level) {
  const c = new zstd.CCtx();
  const d = new zstd.DCtx();
  const frames = [];
  let bytes = 0;
  let t = performance.now();
  for (const run of runs) {
    const n = c.compress(out, run, level);
    bytes += n;
    frames.push(Buffer.from(out.subarray(0, n)));
  }
  const enc = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < frames.length; i++) if (d.decompress(back, frames[i]) !== RUN) throw new Error('short');
  return { bytes, enc, dec: performance.now() - t };
}

function stream(level, window) {
  const windowLog = parseInt(window, 10);
  const c = new zstd.CCtx();
  c.setParameter(zstd.CParameter.compressionLevel, level);
  if (windowLog) c.setParameter(zstd.CParameter.windowLog, windowLog);
  if (window.endsWith('ldm')) c.setParameter(zstd.CParameter.enableLongDistanceMatching, 1);
  const d = new zstd.DCtx();
  d.setParameter(zstd.DParameter.windowLogMax, Math.max(windowLog || 0, 23));
  const segments = [];
  let bytes = 0;
  let t = performance.now();
  for (let i = 0; i < runs.length; i++) {
    const op = (i + 1) % flushEvery === 0 || i === runs.length - 1 ? zstd.EndDirective.flush : zstd.EndDirective.continue;
    let input = runs[i];
    for (;;) {
      // A flush may need more than one call when the output does not take it all at once.
      const [left, produced, consumed] = c.compressStream2(out, input, op);
      bytes += produced;
      if (produced > 0) segments.push(Buffer.from(out.subarray(0, produced)));
      input = input.subarray(consumed);
      if (input.length === 0 && (op === zstd.EndDirective.continue || left === 0)) break;
    }
  }
  const enc = performance.now() - t;
  t = performance.now();
  let decoded = 0;
  for (const s of segments) {
    for (let input = s; input.length > 0; ) {
      const [, produced, consumed] = d.decompressStream(back, input);
      decoded += produced;
      input = input.subarray(consumed);
    }
  }
  // Flushed at every run, each segment decodes whole on arrival; the last flush leaves nothing behind.
  for (let [, produced] = d.decompressStream(back, Buffer.alloc(0)); produced > 0; [, produced] = d.decompressStream(back, Buffer.alloc(0))) decoded += produced;
  if (decoded !== runs.length * RUN) throw new Error(`decoded ${decoded} of ${runs.length * RUN} bytes`);
  return { bytes, enc, dec: performance.now() - t };
}

const modes = [];
for (const level of levels) {
  modes.push({ name: `blocks L${level}`, run: () => blocks(level) });
  for (const w of windows) modes.push({ name: `stream L${level}${w !== '0' ? ` w${w}` : ''}`, run: () => stream(level, w) });
}
const results = new Map(modes.map((m) => [m.name, []]));
for (let r = 0; r < reps; r++) for (const m of modes) results.get(m.name).push(m.run());
const mb = image.length / 1e6;
console.log(`image ${file}: ${mb.toFixed(0)} MB, ${runs.length} runs of 16 pages, ${reps} passes, stream flushed every ${flushEvery} runs`);
console.log('mode | wire % | encode MB/s | decode MB/s');
for (const m of modes) {
  const rs = results.get(m.name);
  console.log(`${m.name} | ${((rs[0].bytes / image.length) * 100).toFixed(1)} | ${(mb / (median(rs.map((x) => x.enc)) / 1000)).toFixed(0)} | ${(mb / (median(rs.map((x) => x.dec)) / 1000)).toFixed(0)}`);
}
