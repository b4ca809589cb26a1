// zstd on an image file, one core: each 16-page run compressed on its own (today's ZstdRun blocks) against one
// stream per channel flushed at every run (ZSTD_e_flush: each run's output decodes on arrival, the window
// carries over), by level and window. Prints wire % (compressed / image bytes) and encode/decode MB/s, medians
// of `reps` passes with the modes alternated within each pass. Not a `bench` subcommand: the image comes from
// outside (e.g. the `real` image that `bench links --images real` makes, written to a file).
//
//   node bench/scripts/zstd-stream-ratio.mjs IMAGE_FILE [reps] [levels=1,3,6,9] [windowLogs=0,23]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../packages/protocol/package.json', import.meta.url));
const zstd = require('zstd-napi/binding.js');
const [file, repsArg, levelsArg, windowsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: node zstd-stream-ratio.mjs IMAGE_FILE [reps] [levels] [windowLogs]');
const reps = Number(repsArg ?? 3);
const levels = (levelsArg ?? '1,3,6,9').split(',').map(Number);
const windows = (windowsArg ?? '0,23').split(',').map(Number); // 0: the level's own window
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

function stream(level, windowLog) {
  const c = new zstd.CCtx();
  c.setParameter(zstd.CParameter.compressionLevel, level);
  if (windowLog) c.setParameter(zstd.CParameter.windowLog, windowLog);
  const d = new zstd.DCtx();
  d.setParameter(zstd.DParameter.windowLogMax, Math.max(windowLog || 0, 23));
  const segments = [];
  let bytes = 0;
  let t = performance.now();
  for (const run of runs) {
    const [left, produced, consumed] = c.compressStream2(out, run, zstd.EndDirective.flush);
    if (left !== 0 || consumed !== RUN) throw new Error(`flush incomplete: ${left} ${consumed}`);
    bytes += produced;
    segments.push(Buffer.from(out.subarray(0, produced)));
  }
  const enc = performance.now() - t;
  t = performance.now();
  for (const s of segments) {
    const [, produced, consumed] = d.decompressStream(back, s);
    if (produced !== RUN || consumed !== s.length) throw new Error(`segment did not decode whole: ${produced} ${consumed}`);
  }
  return { bytes, enc, dec: performance.now() - t };
}

const modes = [];
for (const level of levels) {
  modes.push({ name: `blocks L${level}`, run: () => blocks(level) });
  for (const w of windows) modes.push({ name: `stream L${level}${w ? ` w${w}` : ''}`, run: () => stream(level, w) });
}
const results = new Map(modes.map((m) => [m.name, []]));
for (let r = 0; r < reps; r++) for (const m of modes) results.get(m.name).push(m.run());
const mb = image.length / 1e6;
console.log(`image ${file}: ${(mb).toFixed(0)} MB, ${runs.length} runs of 16 pages, ${reps} passes`);
console.log('mode | wire % | encode MB/s | decode MB/s');
for (const m of modes) {
  const rs = results.get(m.name);
  console.log(`${m.name} | ${((rs[0].bytes / image.length) * 100).toFixed(1)} | ${(mb / (median(rs.map((x) => x.enc)) / 1000)).toFixed(0)} | ${(mb / (median(rs.map((x) => x.dec)) / 1000)).toFixed(0)}`);
}
