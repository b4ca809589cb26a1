import { formatBytes } from '@livemig/agent-runtime';
import { GuestMemory, type WorkloadName } from '@livemig/guest';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, ratio } from './stats.js';
import { TRACKING_MODES, TrackingGuests, type TrackingMode, type TrackingRun } from './tracking-run.js';

export const TRACKING_WORKLOADS: readonly WorkloadName[] = ['uniform', 'hotcold', 'stream', 'incr'];
/** The target: dirty logging may cost at most this fraction of guest throughput. */
export const TRACKING_TARGET = 0.05;

export interface TrackingParams {
  size: number;
  vcpus: number;
  reps: number;
  /** Measured seconds per mode and repetition. */
  seconds: number;
  /** Longest window: a repetition's seconds are cut into windows of at most this, the modes taking turns. */
  sliceMs: number;
  warmupMs: number;
  harvestEveryMs: number;
  workloads: WorkloadName[];
}

/** One window of one mode; a cycle is one window of each mode, back to back. */
export type TrackingSlice = TrackingRun & { rep: number; cycle: number };

export interface TrackingResult {
  workload: WorkloadName;
  reps: number;
  cycles: number;
  /** Guest-wide ops/s (a repetition's ops over its time, median over repetitions) per mode. */
  offOpsPerSec: number | null;
  onOpsPerSec: number | null;
  harvestOpsPerSec: number | null;
  /** 1 - on / off within each repetition, median over repetitions. */
  overhead: number | null;
  /** 1 - harvest / off, likewise. */
  harvestOverhead: number | null;
  /** 1 - on / no-access: what the accessed bitmap adds to dirty logging. */
  accessOverhead: number | null;
  pagesPerHarvest: number | null;
  harvestMs: number | null;
  slices: TrackingSlice[];
}

/** The order rotates from cycle to cycle, so no mode always runs first (or last) in a cycle. */
function modeOrder(cycle: number): TrackingMode[] {
  return TRACKING_MODES.map((_, i) => TRACKING_MODES[(i + cycle) % TRACKING_MODES.length]!);
}

/** Ops over time of these windows of `mode`. */
function opsPerSec(slices: TrackingSlice[], mode: TrackingMode): number | null {
  const mine = slices.filter((s) => s.mode === mode);
  const ms = mine.reduce((sum, s) => sum + s.ms, 0);
  return ms > 0 ? mine.reduce((sum, s) => sum + s.ops, 0) / (ms / 1000) : null;
}

function byRep<T>(slices: TrackingSlice[], reps: number, f: (mine: TrackingSlice[]) => T): T[] {
  return Array.from({ length: reps }, (_, rep) => f(slices.filter((s) => s.rep === rep)));
}

function overhead(slices: TrackingSlice[], mode: TrackingMode, base: TrackingMode = 'off'): number | null {
  const r = ratio(opsPerSec(slices, mode), opsPerSec(slices, base));
  return r === null ? null : 1 - r;
}

/**
 * A repetition boots one guest per mode (the JIT of a fresh worker differs from boot to boot, so every
 * repetition gets fresh ones), then gives the modes turns of at most sliceMs until each had `seconds`.
 */
async function measureWorkload(workload: WorkloadName, params: TrackingParams): Promise<TrackingResult> {
  const memory = GuestMemory.create(params.size);
  // First touches would land in whichever window comes first: take them all now.
  for (const slot of memory.slots) slot.fill(0);
  const slices: TrackingSlice[] = [];
  const perRep = Math.max(1, Math.round((params.seconds * 1000) / params.sliceMs));
  const windowMs = (params.seconds * 1000) / perRep;
  let cycle = 0;
  for (let rep = 0; rep < params.reps; rep++) {
    const guests = await TrackingGuests.boot(memory, workload, params.vcpus, rep + 1, params.harvestEveryMs);
    try {
      for (const mode of TRACKING_MODES) await guests.window(mode, params.warmupMs);
      for (let i = 0; i < perRep; i++, cycle++) {
        for (const mode of modeOrder(cycle)) slices.push({ ...(await guests.window(mode, windowMs)), rep, cycle });
      }
    } finally {
      await guests.stop();
    }
    const mine = slices.filter((s) => s.rep === rep);
    const line = TRACKING_MODES.map((m) => `${m} ${mops(opsPerSec(mine, m))}`);
    progress(`${workload} rep ${rep + 1}/${params.reps}: Mops/s ${line.join(', ')}`);
  }
  const harvesting = slices.filter((s) => s.mode === 'harvest');
  const medianOps = (mode: TrackingMode): number | null => median(byRep(slices, params.reps, (mine) => opsPerSec(mine, mode)));
  return {
    workload,
    reps: params.reps,
    cycles: perRep * params.reps,
    offOpsPerSec: medianOps('off'),
    onOpsPerSec: medianOps('on'),
    harvestOpsPerSec: medianOps('harvest'),
    overhead: median(byRep(slices, params.reps, (mine) => overhead(mine, 'on'))),
    harvestOverhead: median(byRep(slices, params.reps, (mine) => overhead(mine, 'harvest'))),
    accessOverhead: median(byRep(slices, params.reps, (mine) => overhead(mine, 'on', 'no-access'))),
    pagesPerHarvest: median(harvesting.map((s) => s.pagesPerHarvest)),
    harvestMs: median(harvesting.map((s) => s.harvestMs)),
    slices,
  };
}

/** Guest throughput with dirty logging (and a harvester) against without, per workload, in this process. */
export async function tracking(params: TrackingParams): Promise<BenchOutput<TrackingParams, TrackingResult>> {
  const results: TrackingResult[] = [];
  for (const workload of params.workloads) results.push(await measureWorkload(workload, params));
  const notes = [
    `each repetition boots one guest per mode, parked, flat out (dirtyRate 0) on the same ${formatBytes(params.size)} of prefaulted memory, ` +
      `${params.vcpus} vCPUs, one running at a time; each runs ${params.warmupMs} ms untimed first`,
    'off = workload params dirtyLog 0 and accessLog 0 (no marks at all); on = dirty logging and the accessed bitmap, never harvested; ' +
      `harvest = both and memory.harvestDirty() on the main thread every ${params.harvestEveryMs} ms; no-access = dirty logging only (accessLog 0)`,
    'access = 1 - ops/s(on) / ops/s(no-access): what the accessed bitmap costs on top of dirty logging',
    `a repetition gives each mode ${params.seconds} s in windows of at most ${params.sliceMs} ms, the modes taking turns (one cycle = one window each, order rotating)`,
    `overhead = 1 - ops/s / ops/s(off) within a repetition, median over repetitions; target <= ${TRACKING_TARGET * 100}%`,
  ];
  return { bench: 'tracking', machine: machine(), params, results, notes };
}

function percent(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(1)}%`;
}

function mops(value: number | null): string {
  return fixed(value === null ? null : value / 1e6, 3);
}

export function formatTracking(output: BenchOutput<TrackingParams, TrackingResult>): string {
  return table(
    ['workload', 'reps', 'off Mops/s', 'on Mops/s', 'harvest Mops/s', 'overhead', 'w/ harvest', 'access', 'pages/harvest', 'harvest ms'],
    output.results.map((r) => [
      r.workload,
      String(r.reps),
      mops(r.offOpsPerSec),
      mops(r.onOpsPerSec),
      mops(r.harvestOpsPerSec),
      percent(r.overhead),
      percent(r.harvestOverhead),
      percent(r.accessOverhead),
      fixed(r.pagesPerHarvest, 0),
      fixed(r.harvestMs, 2),
    ]),
  );
}
