import { setTimeout as sleep } from 'node:timers/promises';
import { Guest, GuestMemory, parseWorkloadSpec, type WorkloadName } from '@livemig/guest';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median } from './stats.js';

export const ACCESS_WORKLOADS: readonly WorkloadName[] = ['uniform', 'hotcold', 'stream', 'incr'];

export interface AccessParams {
  size: number;
  vcpus: number;
  /** Pairs of windows per workload (the first `warmupPairs` are not counted). */
  pairs: number;
  warmupPairs: number;
  windowMs: number;
}

export interface AccessResult {
  workload: WorkloadName;
  pairs: number;
  /** ops/s with the accessed bitmap over ops/s without, per pair of adjacent windows: median and quartiles. */
  ratio: number | null;
  lowerQuartile: number | null;
  upperQuartile: number | null;
  /** 1 - ratio: the accessed bitmap's cost on guest throughput. */
  overhead: number | null;
}

function quantile(sorted: number[], q: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.floor(q * (sorted.length - 1))]!;
}

/**
 * The accessed bitmap's cost, estimated from pairs: two flat-out guests on the same memory, dirty logging on in
 * both, accessLog 1 in one and 0 in the other, run in adjacent short windows (order alternating). On a loaded
 * host the load drifts slowly, so the ratio within a pair is steadier than ratios of totals.
 */
async function measure(workload: WorkloadName, params: AccessParams, memory: GuestMemory): Promise<AccessResult> {
  const guests = new Map<number, Guest>();
  try {
    for (const accessLog of [0, 1]) {
      const spec = parseWorkloadSpec({ name: workload, seed: 1, ops: 0, params: { dirtyRate: 0, accessLog } });
      guests.set(accessLog, await Guest.start({ memory, vcpus: params.vcpus, workload: spec, paused: true }));
    }
    const window = async (accessLog: number): Promise<number> => {
      const guest = guests.get(accessLog)!;
      const ops = guest.opsDone();
      const t0 = performance.now();
      guest.resume();
      await sleep(params.windowMs);
      const done = guest.opsDone() - ops;
      const ms = performance.now() - t0;
      await guest.park();
      return done / ms;
    };
    const ratios: number[] = [];
    for (let pair = 0; pair < params.pairs; pair++) {
      const rate: number[] = [0, 0];
      for (const accessLog of pair % 2 === 0 ? [1, 0] : [0, 1]) rate[accessLog] = await window(accessLog);
      if (pair >= params.warmupPairs && rate[0]! > 0) ratios.push(rate[1]! / rate[0]!);
    }
    ratios.sort((a, b) => a - b);
    const ratio = median(ratios);
    progress(`${workload}: accessLog 1 / 0 median ${fixed(ratio, 3)} over ${ratios.length} pairs`);
    return { workload, pairs: ratios.length, ratio, lowerQuartile: quantile(ratios, 0.25), upperQuartile: quantile(ratios, 0.75), overhead: ratio === null ? null : 1 - ratio };
  } finally {
    await Promise.all([...guests.values()].map((g) => g.stop()));
  }
}

export async function access(params: AccessParams): Promise<BenchOutput<AccessParams, AccessResult>> {
  const memory = GuestMemory.create(params.size);
  for (const slot of memory.slots) slot.fill(0);
  const results: AccessResult[] = [];
  for (const workload of ACCESS_WORKLOADS) results.push(await measure(workload, params, memory));
  const notes = [
    `two guests per workload, flat out (dirtyRate 0), ${params.vcpus} vCPUs, dirty logging on in both, on the same prefaulted memory; ` +
      `accessLog 1 in one, 0 in the other; ${params.pairs} pairs of adjacent ${params.windowMs} ms windows, order alternating, the first ${params.warmupPairs} not counted`,
    'overhead = 1 - median over pairs of ops/s(accessLog 1) / ops/s(accessLog 0); target <= 5%',
  ];
  return { bench: 'access', machine: machine(), params, results, notes };
}

const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

export function formatAccess(output: BenchOutput<AccessParams, AccessResult>): string {
  return table(
    ['workload', 'pairs', 'ratio (median)', 'quartiles', 'overhead'],
    output.results.map((r) => [r.workload, String(r.pairs), fixed(r.ratio, 3), `${fixed(r.lowerQuartile, 3)}-${fixed(r.upperQuartile, 3)}`, pct(r.overhead)]),
  );
}
