import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDisk, Guest, GuestMemory, parseWorkloadSpec, type WorkloadSpec } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { startMigration } from '@livemig/source-agent';
import { formatBytes, silentLogger } from '@livemig/agent-runtime';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, range } from './stats.js';

/**
 * The cost of the dropped cache (SonicMigration's own caveat), measured against the same guest never
 * migrated: two fileserver guests of one seed on two disks formatted alike run the same ops, so at the same
 * ops count they are the same machine, except that one was migrated (its cache dropped with --soft-pages).
 * After the migration both start at the migrated guest's ops count and take turns in short windows, so the
 * neighbours' load falls on both alike, until each has done `afterOps` more ops.
 */
export type AfterMode = 'default' | 'soft-pages';
export const AFTER_MODES: readonly AfterMode[] = ['default', 'soft-pages'];

export interface AfterParams {
  memoryBytes: number;
  cacheBytes: number;
  anonBytes: number;
  reps: number;
  /** Ops past the warm-up before the migration starts, and ops compared after it. */
  settleOps: number;
  afterOps: number;
  windowMs: number;
}

export interface AfterRun {
  mode: AfterMode;
  /** The migrated guest's ops when the comparison began, and the never-migrated one's (it stops just past). */
  startOps: number;
  controlStartOps: number;
  /** Wall time each took for the `afterOps` ops, in its own windows. */
  migratedMs: number;
  controlMs: number;
  /** controlMs / migratedMs: the migrated guest's throughput against the never-migrated one's. */
  throughputRatio: number;
  /** Time of the migrated guest until its throughput over a twentieth of the ops came within 10 % of the other's; null: never. */
  backWithin10PctMs: number | null;
  /** Per twentieth of the ops: the migrated guest's throughput against the other's. */
  bucketRatios: number[];
}

export interface AfterResult {
  mode: AfterMode;
  runs: number;
  throughputRatio: number | null;
  throughputRange: [number, number] | null;
  backWithin10PctMs: number | null;
  backRange: [number, number] | null;
  firstBucketRatio: number | null;
}

const BUCKETS = 20;

/** A guest's windows as a time-by-ops curve: `at(ops)` is the measured time it took to get that far. */
class OpsClock {
  readonly points: [ops: number, ms: number][] = [[0, 0]];
  add(ops: number, ms: number): void {
    const [lastOps, lastMs] = this.points[this.points.length - 1]!;
    this.points.push([lastOps + ops, lastMs + ms]);
  }
  get ops(): number {
    return this.points[this.points.length - 1]![0];
  }
  at(ops: number): number {
    const i = this.points.findIndex(([o]) => o >= ops);
    if (i <= 0) return 0;
    const [o0, t0] = this.points[i - 1]!;
    const [o1, t1] = this.points[i]!;
    return t0 + ((t1 - t0) * (ops - o0)) / (o1 - o0);
  }
}

async function window(guest: Guest, ms: number, clock: OpsClock): Promise<void> {
  const ops0 = guest.opsDone();
  const t0 = performance.now();
  guest.resume();
  await sleep(ms);
  await guest.park();
  clock.add(guest.opsDone() - ops0, performance.now() - t0);
}

async function runUntil(guest: Guest, ops: number): Promise<void> {
  guest.resume();
  while (guest.opsDone() < ops) await sleep(5);
  await guest.park();
}

async function oneRun(mode: AfterMode, p: AfterParams, dir: string, spec: WorkloadSpec, warmOps: number): Promise<AfterRun> {
  const disks = ['migrated', 'control'].map((name) => join(dir, `${name}.disk`));
  for (const disk of disks) formatDisk(disk, p.cacheBytes, spec.seed);
  const dest = new DestAgent({ maxMemoryBytes: 2 * p.memoryBytes, disk: disks[0]!, log: silentLogger() });
  const address = await dest.listen(0);
  const source = await Guest.start({ memory: GuestMemory.create(p.memoryBytes), vcpus: 1, workload: spec, disk: disks[0]!, paused: true });
  const control = await Guest.start({ memory: GuestMemory.create(p.memoryBytes), vcpus: 1, workload: spec, disk: disks[1]!, paused: true });
  let migrated: Guest | undefined;
  try {
    await runUntil(control, warmOps + p.settleOps);
    const arrived = new Promise<ArrivedGuest>((resolve) => dest.once('arrived', resolve));
    source.resume();
    while (source.opsDone() < warmOps + p.settleOps) await sleep(5);
    const report = await startMigration(source, { target: address, softPages: mode === 'soft-pages', log: silentLogger() }).done;
    if (report.status !== 'completed') throw new Error(`migration ${report.status}: ${report.error?.message ?? ''}`);
    migrated = (await arrived).guest;
    await migrated.park();
    const startOps = migrated.opsDone();
    await runUntil(control, startOps);
    const controlStartOps = control.opsDone();
    const clocks = { migrated: new OpsClock(), control: new OpsClock() };
    for (let turn = 0; clocks.migrated.ops < p.afterOps || clocks.control.ops < p.afterOps; turn++) {
      // Turns alternate which goes first, so neither always follows the other.
      const order = turn % 2 === 0 ? (['migrated', 'control'] as const) : (['control', 'migrated'] as const);
      for (const who of order) if (clocks[who].ops < p.afterOps) await window(who === 'migrated' ? migrated : control, p.windowMs, clocks[who]);
    }
    const bucket = p.afterOps / BUCKETS;
    const bucketRatios = Array.from({ length: BUCKETS }, (_, b) => {
      const spent = (clock: OpsClock): number => clock.at((b + 1) * bucket) - clock.at(b * bucket);
      return spent(clocks.control) / spent(clocks.migrated);
    });
    const back = bucketRatios.findIndex((r) => r >= 0.9);
    const migratedMs = clocks.migrated.at(p.afterOps);
    const controlMs = clocks.control.at(p.afterOps);
    return {
      mode, startOps, controlStartOps, migratedMs: Math.round(migratedMs), controlMs: Math.round(controlMs),
      throughputRatio: controlMs / migratedMs,
      backWithin10PctMs: back < 0 ? null : Math.round(clocks.migrated.at(back * bucket)),
      bucketRatios: bucketRatios.map((r) => Math.round(r * 1000) / 1000),
    };
  } finally {
    await Promise.all([source.stop(), control.stop(), migrated?.stop()]);
    await dest.close();
  }
}

/** Throughput after migration against the same guest never migrated, per mode, medians over `reps`. */
export async function softPagesAfter(p: AfterParams): Promise<BenchOutput<AfterParams & { loadAverage: number[][] }, AfterResult>> {
  const loads = [loadavg()];
  const spec = parseWorkloadSpec({ name: 'fileserver', seed: 1, ops: 0, params: { dirtyRate: 0, diskBytes: p.cacheBytes, cacheBytes: p.cacheBytes, anonBytes: p.anonBytes } });
  const warmOps = p.cacheBytes / 4096 + Math.floor(p.anonBytes / 4096 / 16);
  const dir = mkdtempSync(join(tmpdir(), 'bench-soft-after-'));
  const runs: AfterRun[] = [];
  try {
    for (let rep = 0; rep < p.reps; rep++) {
      for (const mode of rep % 2 === 0 ? AFTER_MODES : [...AFTER_MODES].reverse()) {
        progress(`${mode}, rep ${rep + 1}/${p.reps}`);
        const run = await oneRun(mode, p, dir, spec, warmOps);
        progress(`  throughput ${run.throughputRatio.toFixed(3)} of the never-migrated guest's, back within 10 % after ${run.backWithin10PctMs ?? '-'} ms`);
        runs.push(run);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  loads.push(loadavg());
  const results = AFTER_MODES.map((mode) => {
    const mine = runs.filter((r) => r.mode === mode);
    return {
      mode, runs: mine.length,
      throughputRatio: median(mine.map((r) => r.throughputRatio)), throughputRange: range(mine.map((r) => r.throughputRatio)),
      backWithin10PctMs: median(mine.map((r) => r.backWithin10PctMs)), backRange: range(mine.map((r) => r.backWithin10PctMs)),
      firstBucketRatio: median(mine.map((r) => r.bucketRatios[0])),
    };
  });
  const notes = [
    `load average ${loads.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' -> ')} (2 cores shared)`,
    `a ${formatBytes(p.memoryBytes)} fileserver guest, 1 vCPU, cache and disk ${formatBytes(p.cacheBytes)}, user-land ${formatBytes(p.anonBytes)}, ` +
      `migrated ${p.settleOps} ops past its warm-up; then it and the same guest never migrated each run ${p.afterOps} ops in alternating ${p.windowMs} ms windows`,
    'throughput ratio = time of the never-migrated guest / time of the migrated one for those ops (1 = no cost); first bucket: the first twentieth of them',
    'back within 10 %: the migrated guest\'s own time until a twentieth of the ops ran at 0.9 or more of the other\'s pace',
  ];
  return { bench: 'soft-pages-after', machine: machine(), params: { ...p, loadAverage: loads }, results, notes, runs } as BenchOutput<AfterParams & { loadAverage: number[][] }, AfterResult>;
}

export function formatSoftPagesAfter(out: BenchOutput<AfterParams, AfterResult>): string {
  return table(
    ['mode', 'runs', 'throughput vs never migrated', '[min, max]', 'first twentieth', 'back within 10 % ms', '[min, max]'],
    out.results.map((r) => [
      r.mode, String(r.runs), fixed(r.throughputRatio, 3), r.throughputRange ? `[${fixed(r.throughputRange[0], 3)}, ${fixed(r.throughputRange[1], 3)}]` : '-',
      fixed(r.firstBucketRatio, 3), fixed(r.backWithin10PctMs, 0), r.backRange ? `[${r.backRange[0]}, ${r.backRange[1]}]` : '-',
    ]),
  );
}
