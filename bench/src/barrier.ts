import { formatBytes } from '@livemig/agent-runtime';
import { Guest, type GuestMemory, parseWorkloadSpec, PresentMap, PresentWord, type WorkloadName } from '@livemig/guest';
import { type AlternationParams, byRep, cpuOverhead, measureModes, medianOpsPerSec, medianOverhead, mops, overhead, percent } from './alternating.js';
import { loadavg } from 'node:os';
import { machine, table, type BenchOutput } from './output.js';
import { median, range } from './stats.js';
import { AlternatingGuests } from './tracking-run.js';

/**
 * none: no present map (a guest that never runs post-copy); barrier: the access barrier on, as while
 * post-copy runs, with every page present and its word cached (the steady state: a missing page is a fault,
 * timed by `bench postcopy`, not here); switched-off: a present map whose barrier went off (every page came).
 */
export type BarrierMode = 'none' | 'barrier' | 'switched-off';
export const BARRIER_MODES: readonly BarrierMode[] = ['none', 'barrier', 'switched-off'];
export const BARRIER_WORKLOADS: readonly WorkloadName[] = ['uniform', 'hotcold', 'stream', 'incr'];
/** The issue's target: the barrier may cost at most this fraction of guest throughput. */
export const BARRIER_TARGET = 0.05;

export interface BarrierParams extends AlternationParams {
  vcpus: number;
  workloads: WorkloadName[];
}

export interface BarrierResult {
  workload: WorkloadName;
  reps: number;
  noneOpsPerSec: number | null;
  barrierOpsPerSec: number | null;
  switchedOffOpsPerSec: number | null;
  /** 1 - barrier / none within each repetition, median over repetitions. */
  overhead: number | null;
  switchedOffOverhead: number | null;
  /** The same per repetition, smallest and largest: switched-off against none is the noise floor. */
  overheadRange: [number, number] | null;
  switchedOffRange: [number, number] | null;
  /** As overhead, on ops per CPU second (TrackingRun.cpuMs): a vCPU descheduled by neighbours costs no CPU. */
  cpuOverhead: number | null;
  switchedOffCpuOverhead: number | null;
  cpuOverheadRange: [number, number] | null;
  switchedOffCpuRange: [number, number] | null;
  loadAverage: number[];
}

function presentMap(memory: GuestMemory, vcpus: number, mode: BarrierMode): PresentMap | undefined {
  if (mode === 'none') return undefined;
  const map = PresentMap.create(memory.pageCount, vcpus);
  map.startPostcopy([]);
  // Every page is present, so the map switched its barrier off: hold it on for the measurement.
  if (mode === 'barrier') Atomics.store(map.header, PresentWord.OFF, 0);
  return map;
}

function bootBarrierGuests(memory: GuestMemory, workload: WorkloadName, vcpus: number, seed: number): Promise<AlternatingGuests<BarrierMode>> {
  return AlternatingGuests.boot(memory, BARRIER_MODES, (mode) => {
    const spec = parseWorkloadSpec({ name: workload, seed, ops: 0, params: { dirtyRate: 0 } });
    return Guest.start({ memory, vcpus, workload: spec, paused: true, present: presentMap(memory, vcpus, mode) });
  });
}

async function measureWorkload(workload: WorkloadName, params: BarrierParams): Promise<BarrierResult> {
  const slices = await measureModes(workload, params, BARRIER_MODES, (memory, rep) => bootBarrierGuests(memory, workload, params.vcpus, rep + 1));
  const perRep = (f: typeof overhead, mode: BarrierMode): (number | null)[] => byRep(slices, params.reps, (mine) => f(mine, mode, 'none'));
  return {
    workload,
    reps: params.reps,
    noneOpsPerSec: medianOpsPerSec(slices, params.reps, 'none'),
    barrierOpsPerSec: medianOpsPerSec(slices, params.reps, 'barrier'),
    switchedOffOpsPerSec: medianOpsPerSec(slices, params.reps, 'switched-off'),
    overhead: medianOverhead(slices, params.reps, 'barrier', 'none'),
    switchedOffOverhead: medianOverhead(slices, params.reps, 'switched-off', 'none'),
    overheadRange: range(perRep(overhead, 'barrier')),
    switchedOffRange: range(perRep(overhead, 'switched-off')),
    cpuOverhead: median(perRep(cpuOverhead, 'barrier')),
    switchedOffCpuOverhead: median(perRep(cpuOverhead, 'switched-off')),
    cpuOverheadRange: range(perRep(cpuOverhead, 'barrier')),
    switchedOffCpuRange: range(perRep(cpuOverhead, 'switched-off')),
    loadAverage: loadavg(),
  };
}

/** Guest throughput with the post-copy access barrier on against without a present map, per workload. */
export async function barrier(params: BarrierParams): Promise<BenchOutput<BarrierParams, BarrierResult>> {
  const results: BarrierResult[] = [];
  for (const workload of params.workloads) results.push(await measureWorkload(workload, params));
  const notes = [
    `each repetition boots one guest per mode, parked, flat out (dirtyRate 0, dirty logging on) on the same ${formatBytes(params.size)} ` +
      `of prefaulted memory, ${params.vcpus} vCPUs, one running at a time; each runs ${params.warmupMs} ms untimed first`,
    'none = no present map; barrier = barrier on, every page present (steady state: one private load per page touched, ' +
      'checked before the op changes anything); switched-off = every page arrived, barrier off',
    `a repetition gives each mode ${params.seconds} s in windows of at most ${params.sliceMs} ms, the modes taking turns`,
    `overhead = 1 - ops/s / ops/s(none) within a repetition, median over repetitions [smallest, largest]; target <= ${BARRIER_TARGET * 100}%`,
    'cpu overhead: the same on ops per CPU second of the process (a vCPU descheduled by the neighbours uses none)',
    'switched off runs the same code as none but one field test: its spread against none is the noise floor',
    `load average at the end of each workload: ${results.map((r) => `${r.workload} ${r.loadAverage.map((l) => l.toFixed(1)).join(' ')}`).join('; ')}`,
  ];
  return { bench: 'barrier', machine: machine(), params, results, notes };
}

/** A median with its spread over the repetitions: `5.1% [-2.0%, 9.3%]`. */
function spread(value: number | null, r: [number, number] | null): string {
  return r === null ? percent(value) : `${percent(value)} [${percent(r[0])}, ${percent(r[1])}]`;
}

export function formatBarrier(output: BenchOutput<BarrierParams, BarrierResult>): string {
  return table(
    ['workload', 'reps', 'none Mops/s', 'barrier Mops/s', 'off Mops/s', 'overhead', 'switched off (noise)', 'cpu overhead', 'cpu switched off (noise)'],
    output.results.map((r) => [
      r.workload,
      String(r.reps),
      mops(r.noneOpsPerSec),
      mops(r.barrierOpsPerSec),
      mops(r.switchedOffOpsPerSec),
      spread(r.overhead, r.overheadRange),
      spread(r.switchedOffOverhead, r.switchedOffRange),
      spread(r.cpuOverhead, r.cpuOverheadRange),
      spread(r.switchedOffCpuOverhead, r.switchedOffCpuRange),
    ]),
  );
}
