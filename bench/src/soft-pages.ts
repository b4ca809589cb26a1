import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDisk } from '@livemig/guest';
import { formatBytes } from '@livemig/agent-runtime';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { softPagesRun, type SoftPagesMode, type SoftPagesRun } from './soft-pages-run.js';
import { median, ratio } from './stats.js';

export interface SoftPagesParams {
  memoryBytes: number;
  /** The cache's size and the disk's: the paper's 768 MiB of disk blocks in a 1 GiB guest, scaled. */
  cacheBytes: number;
  anonSizes: number[];
  reps: number;
  settleMs: number;
  afterMs: number;
  timeoutMs: number;
  loadAverageBefore: number[];
  loadAverageAfter: number[] | null;
}

/** Medians over the reps of one user-land size and mode, with ratios to the default run of that size. */
export interface SoftPagesResult {
  anonBytes: number;
  mode: SoftPagesMode;
  runs: number;
  failed: string[];
  pagesSent: number | null;
  totalTimeMs: number | null;
  downtimeMs: number | null;
  agentCpuSeconds: number | null;
  pagesNeverSent: number | null;
  pagesBallooned: number | null;
  interruptMs: number | null;
  opsPerSecBefore: number | null;
  /** The first 500 ms window at the destination against before. */
  throughputAfterRatio: number | null;
  backWithin10PctMs: number | null;
  pagesVsDefault: number | null;
  timeVsDefault: number | null;
  cpuVsDefault: number | null;
  /** The earlier measure (the destination's vCPU after activation left in), and its ratio to the default's. */
  agentCpuSecondsWithDestVcpu: number | null;
  cpuWithDestVcpuVsDefault: number | null;
  /** Medians per thread class and per phase of each side's CPU seconds (cpu-breakdown.ts). */
  source: Record<string, number | null>;
  dest: Record<string, number | null>;
  sourceByPhase: Record<string, number | null>;
  destByPhase: Record<string, number | null>;
  reportCpuMs: Record<string, number | null>;
}

/** Median of each key over records (a key missing from a record counts as 0: a phase that took no sample). */
function medianByKey(records: (Record<string, number | null> | null)[]): Record<string, number | null> {
  const present = records.filter((r): r is Record<string, number | null> => r !== null);
  const keys = [...new Set(present.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, median(present.map((r) => r[k] ?? 0))]));
}

export const MODES: readonly SoftPagesMode[] = ['default', 'soft-pages', 'balloon'];

/**
 * SonicMigration's experiment at our scale (Koto et al.: a 2 GB Xen guest, buffer cache full, user-land
 * memory varied): default pre-copy against --soft-pages and --balloon, modes interleaved within each rep so
 * that the load of the machine falls on all three alike.
 */
export async function softPages(params: Omit<SoftPagesParams, 'loadAverageBefore' | 'loadAverageAfter'>): Promise<BenchOutput<SoftPagesParams, SoftPagesResult>> {
  const full: SoftPagesParams = { ...params, loadAverageBefore: loadavg(), loadAverageAfter: null };
  const dir = mkdtempSync(join(tmpdir(), 'bench-soft-pages-'));
  const runs: SoftPagesRun[] = [];
  try {
    const disk = join(dir, 'disk');
    progress(`formatting a ${formatBytes(params.cacheBytes)} disk`);
    formatDisk(disk, params.cacheBytes, 1);
    for (const anonBytes of params.anonSizes) {
      for (let rep = 0; rep < params.reps; rep++) {
        for (const mode of MODES) {
          progress(`user-land ${formatBytes(anonBytes)}, ${mode}, rep ${rep + 1}/${params.reps}`);
          const run = await softPagesRun({
            memory: String(params.memoryBytes), diskBytes: params.cacheBytes, cacheBytes: params.cacheBytes, anonBytes, mode, disk,
            settleMs: params.settleMs, afterMs: params.afterMs, timeoutMs: params.timeoutMs,
          });
          if (!run.ok) progress(`  failed: ${run.error}`);
          runs.push(run);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  full.loadAverageAfter = loadavg();
  const results: SoftPagesResult[] = [];
  for (const anonBytes of params.anonSizes) {
    const of = (mode: SoftPagesMode): SoftPagesRun[] => runs.filter((r) => r.anonBytes === anonBytes && r.mode === mode);
    const base = of('default').filter((r) => r.ok);
    for (const mode of MODES) {
      const all = of(mode);
      const ok = all.filter((r) => r.ok);
      const m = (pick: (r: SoftPagesRun) => number | null, from = ok): number | null => median(from.map(pick));
      results.push({
        anonBytes, mode, runs: ok.length, failed: all.filter((r) => !r.ok).map((r) => r.error ?? 'failed'),
        pagesSent: m((r) => r.pagesSent), totalTimeMs: m((r) => r.totalTimeMs), downtimeMs: m((r) => r.downtimeMs),
        agentCpuSeconds: m((r) => r.agentCpuSeconds), pagesNeverSent: m((r) => r.pagesNeverSent), pagesBallooned: m((r) => r.pagesBallooned),
        interruptMs: m((r) => r.interruptMs), opsPerSecBefore: m((r) => r.opsPerSecBefore),
        throughputAfterRatio: m((r) => ratio(r.opsPerSecAfter[0] ?? null, r.opsPerSecBefore)), backWithin10PctMs: m((r) => r.backWithin10PctMs),
        pagesVsDefault: ratio(m((r) => r.pagesSent), m((r) => r.pagesSent, base)),
        timeVsDefault: ratio(m((r) => r.totalTimeMs), m((r) => r.totalTimeMs, base)),
        cpuVsDefault: ratio(m((r) => r.agentCpuSeconds), m((r) => r.agentCpuSeconds, base)),
        agentCpuSecondsWithDestVcpu: m((r) => r.agentCpuSecondsWithDestVcpu),
        cpuWithDestVcpuVsDefault: ratio(m((r) => r.agentCpuSecondsWithDestVcpu), m((r) => r.agentCpuSecondsWithDestVcpu, base)),
        source: medianByKey(ok.map((r) => r.source as unknown as Record<string, number> | null)),
        dest: medianByKey(ok.map((r) => r.dest as unknown as Record<string, number> | null)),
        sourceByPhase: medianByKey(ok.map((r) => r.sourceByPhase)),
        destByPhase: medianByKey(ok.map((r) => r.destByPhase)),
        reportCpuMs: medianByKey(ok.map((r) => r.reportCpuMs)),
      });
    }
  }
  return { bench: 'soft-pages', machine: machine(), params: full, results, notes: notes(full, results) };
}

function notes(params: SoftPagesParams, results: SoftPagesResult[]): string[] {
  const out = [
    `load average ${params.loadAverageBefore.map((l) => l.toFixed(1)).join(' ')} before, ${params.loadAverageAfter?.map((l) => l.toFixed(1)).join(' ')} after (2 cores shared)`,
    'agent CPU: both agent processes over the migration, less the guest vCPU threads (the source: busiest before the migration; the destination: busiest in the first window after it)',
    'CPU breakdown (--json: source, dest, sourceByPhase, destByPhase): per thread class and per phase of the source report, medians',
  ];
  const smallest = Math.min(...params.anonSizes);
  const soft = results.find((r) => r.anonBytes === smallest && r.mode === 'soft-pages');
  if (soft?.pagesVsDefault != null && soft.timeVsDefault != null) {
    const pages = (1 - soft.pagesVsDefault) * 100;
    const time = (1 - soft.timeVsDefault) * 100;
    out.push(`smallest user-land: --soft-pages sent ${pages.toFixed(1)} % fewer pages and took ${time.toFixed(1)} % less time (paper: -83.9 % pages, -68.3 % time; targets: pages <= 16 % and time <= 32 % of the default's)`);
  }
  for (const r of results) for (const f of r.failed) out.push(`${formatBytes(r.anonBytes)} ${r.mode}: ${f}`);
  return out;
}

export function formatSoftPages(out: BenchOutput<SoftPagesParams, SoftPagesResult>): string {
  const header = ['user-land', 'mode', 'pages sent', 'vs default', 'time ms', 'vs default', 'downtime ms', 'agent CPU s', 'vs default', 'incl. dest vCPU', 'never sent', 'ballooned', 'irq ms', 'ops/s before', 'after/before', 'back <10% ms'];
  const rows = out.results.map((r) => [
    formatBytes(r.anonBytes), r.mode, fixed(r.pagesSent, 0), fixed(r.pagesVsDefault, 3), fixed(r.totalTimeMs, 0), fixed(r.timeVsDefault, 3),
    fixed(r.downtimeMs, 0), fixed(r.agentCpuSeconds, 2), fixed(r.cpuVsDefault, 3), fixed(r.cpuWithDestVcpuVsDefault, 3), fixed(r.pagesNeverSent, 0), fixed(r.pagesBallooned, 0),
    fixed(r.interruptMs, 1), fixed(r.opsPerSecBefore, 0), fixed(r.throughputAfterRatio, 2), fixed(r.backWithin10PctMs, 0),
  ]);
  return `${table(header, rows)}\n\n${formatCpuBreakdown(out.results)}`;
}

/** Agent CPU seconds per side, by thread and by phase, medians. */
function formatCpuBreakdown(results: SoftPagesResult[]): string {
  const phases = [...new Set(results.flatMap((r) => [...Object.keys(r.sourceByPhase), ...Object.keys(r.destByPhase)]))];
  const threads = ['main', 'spawned', 'other', 'ended', 'vcpu'];
  const header = ['user-land', 'mode', 'side', 'agent s', ...threads.map((t) => `${t} s`), ...phases.map((p) => `${p} s`), 'report cpuMs'];
  const rows = results.flatMap((r) =>
    (['source', 'dest'] as const).map((side) => [
      formatBytes(r.anonBytes), r.mode, side, fixed(r[side]['agent'] ?? null, 2),
      ...threads.map((t) => fixed(r[side][t] ?? null, 2)),
      ...phases.map((p) => fixed((side === 'source' ? r.sourceByPhase : r.destByPhase)[p] ?? null, 2)),
      fixed(r.reportCpuMs[side] ?? null, 0),
    ]),
  );
  return table(header, rows);
}
