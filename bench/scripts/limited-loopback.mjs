// A running guest started from an image file migrated to a destination on this host under --max-bandwidth, with
// --compress auto, by the agents of two built checkouts alternately (each repetition runs both, in turns): the
// rate limit is the only link, so what `auto` does with its waits shows in the wire bytes and the time. Prints
// per checkout the medians of time to complete and wire % of the image, and the zstd batches by level.
// Not a `bench` subcommand: it compares checkouts, as `bench links --links-base` does for real links.
//
//   node bench/scripts/limited-loopback.mjs IMAGE_FILE RATE REPS CHECKOUT...     e.g. 12.5MB/s 3 /tmp/base .
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const [image, rate, repsArg, ...checkouts] = process.argv.slice(2);
if (!image || !rate || checkouts.length === 0) throw new Error('usage: node limited-loopback.mjs IMAGE_FILE RATE REPS CHECKOUT...');
const reps = Number(repsArg);

function start(bin, args) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise((res) => child.on('exit', (code) => res({ code, out })));
  return { child, done, output: () => out };
}

async function listening(agent) {
  for (let i = 0; i < 600; i++) {
    const m = /^listening (\S+):(\d+)$/m.exec(agent.output());
    if (m) return `${m[1]}:${m[2]}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`destination did not listen: ${agent.output()}`);
}

async function migrate(checkout) {
  const report = join(tmpdir(), `limited-loopback-${process.pid}.json`);
  const dest = start(join(checkout, 'packages/dest-agent/bin/dest-agent.js'), ['listen', '--port', '0', '--once', '--run-for', '0']);
  const address = await listening(dest);
  const args = ['run', '--image-file', image, '--workload', 'idle', '--migrate-to', address, '--migrate-after', '0'];
  const source = start(join(checkout, 'packages/source-agent/bin/source-agent.js'), [...args, '--max-bandwidth', rate, '--compress', 'auto', '--report', report]);
  const [s, d] = await Promise.all([source.done, dest.done]);
  if (s.code !== 0 || d.code !== 0) throw new Error(`migration failed: ${s.out}\n${d.out}`);
  const r = JSON.parse(readFileSync(report, 'utf8'));
  rmSync(report, { force: true });
  const levels = { lz4: 0, none: 0, zstd: 0, zstd3: 0, zstd6: 0, zstd9: 0 };
  for (const round of r.rounds) for (const k of Object.keys(levels)) levels[k] += round.batches[k] ?? 0;
  return { ms: r.totalTimeMs, wire: r.bytesOnWire / r.imageBytes, levels };
}

const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const results = checkouts.map(() => []);
for (let rep = 0; rep < reps; rep++) {
  for (let c = 0; c < checkouts.length; c++) {
    const r = await migrate(resolve(checkouts[c]));
    results[c].push(r);
    console.log(`rep ${rep + 1} ${checkouts[c]}: ${r.ms.toFixed(0)} ms, wire ${(r.wire * 100).toFixed(1)} %, batches ${JSON.stringify(r.levels)}`);
  }
}
for (let c = 0; c < checkouts.length; c++) {
  const rs = results[c];
  const ratio = median(rs.map((r, i) => r.ms / results[0][i].ms));
  console.log(`${checkouts[c]}: median ${median(rs.map((r) => r.ms)).toFixed(0)} ms (x first ${ratio.toFixed(2)}), wire ${(median(rs.map((r) => r.wire)) * 100).toFixed(1)} %`);
}
