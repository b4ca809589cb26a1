// A migration's fixed cost through the two agents, several checkouts alternating (docs/PERFORMANCE.md, "The
// switch's fixed cost"). Each repetition runs one migration from every checkout in turn (the order rotates),
// each with that checkout's own agents, and reads the source's report. With --timeline the agents also write
// their steps (LIVEMIG_TIMELINE, agent-runtime's markStep) and the median time of each step after the
// migration's start is printed per checkout (checkouts without markStep print none).
//
//   node bench/scripts/switch-timeline.mjs --case zero|incr [--reps 5] [--timeline] CHECKOUT...
//
// zero: a paused guest from a sparse 1 GiB file of zeros (what `bench stop-copy --images zero` migrates).
// incr: 128 MiB incr guest, 2 vCPUs, unpaced, --max-rounds 3 --downtime-limit 50ms, so that the final round
//   carries all 32,768 pages.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const which = option('--case', 'zero');
const reps = Number(option('--reps', '5'));
const timeline = flag('--timeline');
const roots = args.filter((arg, i) => !arg.startsWith('--') && !['--case', '--reps'].includes(args[i - 1] ?? ''));
if (roots.length === 0 || !['zero', 'incr'].includes(which)) {
  throw new Error('usage: switch-timeline.mjs --case zero|incr [--reps N] [--timeline] CHECKOUT...');
}
const scratch = mkdtempSync(join(tmpdir(), 'switch-timeline-'));
const zeroImage = join(scratch, 'zero.img');
if (which === 'zero') {
  writeFileSync(zeroImage, '');
  truncateSync(zeroImage, 1 << 30);
}

/** Runs `node script args` and resolves with its exit code; `onLine` sees each stdout line. */
function run(script, argv, env, onLine) {
  const child = spawn(process.execPath, [script, ...argv], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout }).on('line', (line) => onLine?.(line));
  return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

async function migrateOnce(root, rep) {
  const tag = `${roots.indexOf(root)}-${rep}`;
  const [srcReport, destReport, steps] = ['src', 'dest', 'steps'].map((name) => join(scratch, `${name}-${tag}.json`));
  const env = timeline ? { LIVEMIG_TIMELINE: steps } : {};
  let resolveAddress;
  const address = new Promise((resolve) => (resolveAddress = resolve));
  const dest = run(join(root, 'packages/dest-agent/bin/dest-agent.js'), ['listen', '--port', '0', '--once', '--run-for', '0', '--max-memory', '2GiB', '--report', destReport], env, (line) => {
    const listening = /^listening (\S+)$/.exec(line);
    if (listening) resolveAddress(listening[1]);
  });
  const target = await Promise.race([address, dest.exited.then((code) => { throw new Error(`dest-agent exited ${code}`); })]);
  const guest =
    which === 'zero'
      ? ['--image-file', zeroImage, '--paused', '--migrate-after', '0']
      : ['--memory', '128MiB', '--vcpus', '2', '--workload', 'incr', '--dirty-rate', '0', '--ops', '0', '--migrate-after', '1s', '--max-rounds', '3', '--downtime-limit', '50ms'];
  const source = run(join(root, 'packages/source-agent/bin/source-agent.js'), ['run', ...guest, '--migrate-to', target, '--report', srcReport], env);
  const [sourceCode] = await Promise.all([source.exited, dest.exited]);
  if (sourceCode !== 0) throw new Error(`source-agent exited ${sourceCode} (${root})`);
  const report = JSON.parse(readFileSync(srcReport, 'utf8'));
  const final = report.rounds?.at(-1);
  return {
    commitMs: report.timeToCommitMs,
    setupMs: report.setupTimeMs,
    sourceDowntimeMs: report.sourceDowntimeMs,
    sourceDowntimeCpuMs: report.sourceDowntimeCpuMs,
    downtimeMs: report.downtimeMs,
    finalRoundMs: final?.ms,
    finalPages: final?.pagesSent,
    digest: report.sourceDigest,
    steps: timeline && existsSync(steps) ? readSteps(steps) : [],
  };
}

/** The steps of one migration, ms after its first step, in order. */
function readSteps(file) {
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => line.split('\t'));
  const start = Math.min(...lines.filter(([, , step]) => step === 'S migration started').map(([at]) => Number(at)));
  return lines.map(([at, , step]) => ({ step, ms: Number(at) - start })).filter(({ ms }) => ms >= 0).sort((a, b) => a.ms - b.ms);
}

const median = (values) => {
  const sorted = values.filter((v) => typeof v === 'number').sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fixed = (v) => (v === null ? '-' : v.toFixed(1));

const results = new Map(roots.map((root) => [root, []]));
const loadAtStart = loadavg()[0];
for (let rep = 0; rep < reps; rep++) {
  const order = roots.map((_, i) => roots[(i + rep) % roots.length]);
  for (const root of order) {
    const result = await migrateOnce(root, rep);
    results.get(root).push(result);
    console.error(`rep ${rep + 1}/${reps} ${root}: commit ${result.commitMs} ms, source downtime ${result.sourceDowntimeMs} ms (cpu ${result.sourceDowntimeCpuMs}), final round ${result.finalRoundMs} ms, ${result.finalPages} pages, load ${loadavg()[0].toFixed(2)}`);
  }
}
console.log(`case ${which}, ${reps} reps, load ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`);
const fields = ['commitMs', 'setupMs', 'downtimeMs', 'sourceDowntimeMs', 'sourceDowntimeCpuMs', 'finalRoundMs'];
console.log(['checkout', ...fields.map((f) => `${f} (median; each)`)].join(' | '));
const base = results.get(roots[0]);
for (const [root, runs] of results) {
  const cells = fields.map((f) => {
    const m = median(runs.map((r) => r[f]));
    const b = median(base.map((r) => r[f]));
    const ratio = m !== null && b ? ` x${(m / b).toFixed(2)}` : '';
    return `${fixed(m)}${root === roots[0] ? '' : ratio} (${runs.map((r) => r[f]).join(', ')})`;
  });
  console.log([root, ...cells].join(' | '));
  const digests = new Set(runs.map((r) => r.digest));
  if (which === 'zero' && digests.size !== 1) console.log(`  ${root}: digests differ between runs: ${[...digests].join(', ')}`);
  if (timeline && runs[0].steps.length > 0) {
    const names = [...new Set(runs.flatMap((r) => r.steps.map((s) => s.step)))];
    const rows = names.map((step) => ({ step, ms: median(runs.map((r) => r.steps.find((s) => s.step === step)?.ms)) }));
    for (const { step, ms } of rows.sort((a, b) => a.ms - b.ms)) console.log(`  ${fixed(ms).padStart(8)}  ${step}`);
  }
}
if (flag('--keep')) console.log(`files in ${scratch}`);
else rmSync(scratch, { recursive: true, force: true });
