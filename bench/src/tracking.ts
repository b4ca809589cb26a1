import { formatBytes } from '@livemig/agent-runtime';
import type { WorkloadName } from '@livemig/guest';
import { type AlternationParams, measureModes, medianOpsPerSec, medianOverhead, type ModeSlice, mops, percent } from './alternating.js';
import { fixed, machine, table, type BenchOutput } from './output.js';
import { median } from './stats.js';
import { bootTrackingGuests, TRACKING_MODES, type TrackingMode } from './tracking-run.js';

export const TRACKING_WORKLOADS: readonly WorkloadName[] = ['uniform', 'hotcold', 'stream', 'incr'];
/** The target: dirty logging may cost at most this fraction of guest throughput. */
export const TRACKING_TARGET = 0.05;

export interface TrackingParams extends AlternationParams {
  vcpus: number;
  harvestEveryMs: number;
  workloads: WorkloadName[];
}

/** One window of one mode; a cycle is one window of each mode, back to back. */
export type TrackingSlice = ModeSlice<TrackingMode>;

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

async function measureWorkload(workload: WorkloadName, params: TrackingParams): Promise<TrackingResult> {
  const slices = await measureModes(workload, params, TRACKING_MODES, (memory, rep) =>
    bootTrackingGuests(memory, workload, params.vcpus, rep + 1, params.harvestEveryMs),
  );
  const harvesting = slices.filter((s) => s.mode === 'harvest');
  return {
    workload,
    reps: params.reps,
    cycles: Math.max(0, ...slices.map((s) => s.cycle + 1)),
    offOpsPerSec: medianOpsPerSec(slices, params.reps, 'off'),
    onOpsPerSec: medianOpsPerSec(slices, params.reps, 'on'),
    harvestOpsPerSec: medianOpsPerSec(slices, params.reps, 'harvest'),
    overhead: medianOverhead(slices, params.reps, 'on', 'off'),
    harvestOverhead: medianOverhead(slices, params.reps, 'harvest', 'off'),
    accessOverhead: medianOverhead(slices, params.reps, 'on', 'no-access'),
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
