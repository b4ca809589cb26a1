import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LATENCY_BUCKETS } from '@livemig/guest';
import { DEST_AGENT, SOURCE_AGENT } from './agents.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median } from './stats.js';

/**
 * Post-copy and hybrid through the real agents on loopback (issue 12's targets): per case, a destination
 * (`--once --run-for 1s`) and a source that migrates its guest after `--migrate-after`; the figures come from
 * both JSON reports.
 */
export interface PostcopyCase {
  name: string;
  guest: string[];
  migration: string[];
}

export const POSTCOPY_CASES: readonly PostcopyCase[] = [
  ...(['bubble', 'forward', 'linear'] as const).map((prepaging) => ({
    name: `postcopy hotcold ${prepaging}`,
    guest: ['--memory', '256MiB', '--vcpus', '2', '--workload', 'hotcold'],
    migration: ['--mode', 'postcopy', '--prepaging', prepaging],
  })),
  {
    name: 'hybrid stream 50ms',
    guest: ['--memory', '256MiB', '--vcpus', '2', '--workload', 'stream'],
    migration: ['--mode', 'hybrid', '--downtime-limit', '50ms'],
  },
  {
    name: 'precopy+auto-converge stream 50ms',
    guest: ['--memory', '256MiB', '--vcpus', '2', '--workload', 'stream'],
    migration: ['--downtime-limit', '50ms', '--auto-converge'],
  },
];

export interface PostcopyParams {
  reps: number;
  migrateAfter: string;
  timeoutMs: number;
}

export interface PostcopyRun {
  name: string;
  rep: number;
  status: string;
  switchoverReason: string | null;
  /** Park to the switch written (post-copy) or to the last stop-and-copy byte handed to the sockets (pre-copy). */
  sourceDowntimeMs: number | null;
  /** Park to Activated read (pre-copy); post-copy has no Activated: the same as sourceDowntimeMs. */
  downtimeMs: number | null;
  totalTimeMs: number | null;
  bytesOnWire: number | null;
  missingAtSwitch: number | null;
  faults: number | null;
  pagesRequested: number | null;
  pagesSentTwice: number | null;
  blocktimeMs: number | null;
  latencyMedianUs: number | null;
}

export interface PostcopyResult {
  name: string;
  completed: number;
  runs: PostcopyRun[];
  medians: Record<string, number | null>;
}

function run(bin: string, args: string[], timeoutMs: number, onLine?: (line: string) => void): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let at;
      while ((at = buffered.indexOf('\n')) >= 0) {
        onLine?.(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function readReport(path: string): Record<string, any> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  } catch {
    return null;
  }
}

/** Median of a latency histogram: the lower bound of the bucket holding the middle fault, in microseconds. */
function bucketMedian(buckets: number[] | undefined): number | null {
  if (!buckets) return null;
  const total = buckets.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let b = 0; b < LATENCY_BUCKETS && total > 0; b++) {
    seen += buckets[b] ?? 0;
    if (seen * 2 >= total) return 2 ** b;
  }
  return null;
}

async function once(c: PostcopyCase, rep: number, params: PostcopyParams, dir: string): Promise<PostcopyRun> {
  const destReport = join(dir, `dest-${rep}.json`);
  const sourceReport = join(dir, `source-${rep}.json`);
  let listening: (address: string) => void = () => {};
  const address = new Promise<string>((resolve) => (listening = resolve));
  const dest = run(DEST_AGENT, ['listen', '--port', '0', '--once', '--run-for', '1s', '--report', destReport], params.timeoutMs, (line) => {
    const match = /^listening (\S+)$/.exec(line);
    if (match) listening(match[1]!);
  });
  const target = await address;
  await run(SOURCE_AGENT, ['run', ...c.guest, '--seed', String(rep + 1), ...c.migration, '--migrate-to', target, '--migrate-after', params.migrateAfter, '--report', sourceReport], params.timeoutMs);
  await dest;
  const source = readReport(sourceReport);
  const received = readReport(destReport);
  const pc = received?.['postcopy'] as Record<string, any> | undefined;
  return {
    name: c.name,
    rep,
    status: String(source?.['status'] ?? 'no report'),
    switchoverReason: (source?.['switchoverReason'] as string | null) ?? null,
    sourceDowntimeMs: (source?.['sourceDowntimeMs'] as number | null) ?? null,
    downtimeMs: (source?.['downtimeMs'] as number | null) ?? null,
    totalTimeMs: (source?.['totalTimeMs'] as number | null) ?? null,
    bytesOnWire: (source?.['bytesOnWire'] as number | null) ?? null,
    missingAtSwitch: (pc?.['missingAtSwitch'] as number | undefined) ?? null,
    faults: (pc?.['faults'] as number | undefined) ?? null,
    pagesRequested: (pc?.['pagesRequested'] as number | undefined) ?? null,
    pagesSentTwice: (source?.['postcopy']?.['pagesSentTwice'] as number | undefined) ?? null,
    blocktimeMs: (pc?.['blocktimeMs'] as number | undefined) ?? null,
    latencyMedianUs: bucketMedian(pc?.['latencyBuckets'] as number[] | undefined),
  };
}

const MEDIAN_FIELDS = ['sourceDowntimeMs', 'downtimeMs', 'totalTimeMs', 'bytesOnWire', 'missingAtSwitch', 'faults', 'pagesRequested', 'pagesSentTwice', 'blocktimeMs', 'latencyMedianUs'] as const;

export async function postcopyBench(params: PostcopyParams): Promise<BenchOutput<PostcopyParams, PostcopyResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'livemig-bench-postcopy-'));
  const runs: PostcopyRun[] = [];
  try {
    // Cases take turns within a repetition, so neighbouring runs see the same noise.
    for (let rep = 0; rep < params.reps; rep++) {
      for (const c of POSTCOPY_CASES) {
        const r = await once(c, rep, params, dir);
        runs.push(r);
        progress(`rep ${rep + 1}/${params.reps} ${c.name}: ${r.status} (${r.switchoverReason ?? '-'}), downtime ${r.sourceDowntimeMs ?? '-'} ms, faults ${r.faults ?? '-'}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const results = POSTCOPY_CASES.map((c): PostcopyResult => {
    const mine = runs.filter((r) => r.name === c.name && r.status === 'completed');
    const medians = Object.fromEntries(MEDIAN_FIELDS.map((f) => [f, median(mine.map((r) => r[f]))]));
    return { name: c.name, completed: mine.length, runs: runs.filter((r) => r.name === c.name), medians };
  });
  const notes = [
    `each run: dest-agent listen --port 0 --once --run-for 1s; source-agent run GUEST --seed REP MIGRATION --migrate-after ${params.migrateAfter}; medians over completed runs`,
    'downtime = the source report\'s downtimeMs: park to Activated read (pre-copy), park to PostcopyRun written (post-copy: the destination runs the guest right after reading it; no notice comes back)',
    'faults, pages requested, blocktime (all vCPUs blocked at once) and the median fault latency (bucket lower bound) come from the destination report; sent twice from the source report',
  ];
  return { bench: 'postcopy', machine: machine(), params, results, notes };
}

export function formatPostcopy(output: BenchOutput<PostcopyParams, PostcopyResult>): string {
  return table(
    ['case', 'ok', 'reason', 'downtime ms', 'total ms', 'wire MB', 'missing', 'faults', 'requested', 'sent twice', 'blocktime ms', 'latency us'],
    output.results.map((r) => {
      const m = r.medians;
      const reasons = [...new Set(r.runs.map((x) => x.switchoverReason ?? '-'))].join(',');
      return [
        r.name,
        `${r.completed}/${r.runs.length}`,
        reasons,
        fixed(m['downtimeMs'] ?? null, 1),
        fixed(m['totalTimeMs'] ?? null, 0),
        fixed(m['bytesOnWire'] === null || m['bytesOnWire'] === undefined ? null : m['bytesOnWire'] / 1e6, 1),
        fixed(m['missingAtSwitch'] ?? null, 0),
        fixed(m['faults'] ?? null, 0),
        fixed(m['pagesRequested'] ?? null, 0),
        fixed(m['pagesSentTwice'] ?? null, 0),
        fixed(m['blocktimeMs'] ?? null, 1),
        fixed(m['latencyMedianUs'] ?? null, 0),
      ];
    }),
  );
}
