import { setTimeout as sleep } from 'node:timers/promises';
import { formatBytes } from '@livemig/agent-runtime';
import { FaultRequests } from '@livemig/dest-agent';
import { Guest, GuestMemory, LATENCY_BUCKETS, parseWorkloadSpec, PresentMap, type WorkloadName } from '@livemig/guest';
import { PREPAGING_NAMES, type Prepaging, PushOrder } from '@livemig/source-agent';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median } from './stats.js';

/**
 * Pre-paging orders compared on a real guest, with the network simulated: the guest's vCPUs run at a
 * "destination" behind a PresentMap (the real access barrier, faults and blocktime), and this thread plays
 * source and wire. Every tick it answers the faults FaultRequests collected (each answer lands one round trip
 * later) and pushes PushOrder's next pages within a fixed page budget. No TCP, no encoding: it measures what
 * the order does to the faults, not what the agents do (that is `bench postcopy`, not built yet).
 */
export interface PrepagingParams {
  size: number;
  vcpus: number;
  reps: number;
  workload: WorkloadName;
  /** How long the guest runs at the source before the switch, to write its image. */
  sourceRunMs: number;
  /** Simulated wire: guest bytes per second for pushes and answers together, and a request's round trip. */
  bytesPerSec: number;
  roundTripMs: number;
  tickMs: number;
}

export interface PrepagingRun {
  policy: Prepaging;
  rep: number;
  /** Pages the destination lacked at the switch (every page the source wrote). */
  missing: number;
  /** Network faults: pages requested because a vCPU waited for them. */
  faults: number;
  /** Distinct pages the guest wrote from the switch until the push ended. */
  workingSet: number;
  pushMs: number;
  guestBlockedMs: number;
  /** Median fault latency, from the 24 power-of-two buckets (the bucket's lower bound), in microseconds. */
  latencyMedianUs: number | null;
}

export interface PrepagingResult {
  policy: Prepaging;
  faults: number | null;
  workingSet: number | null;
  faultShare: number | null;
  pushMs: number | null;
  guestBlockedMs: number | null;
  latencyMedianUs: number | null;
  runs: PrepagingRun[];
}

function bucketMedian(buckets: number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    seen += buckets[b]!;
    if (seen * 2 >= total) return 2 ** b;
  }
  return null;
}

/** The source: a guest that runs `sourceRunMs`, then parks; its memory and CPU state are what post-copy moves. */
async function sourceImage(params: PrepagingParams, seed: number): Promise<{ memory: GuestMemory; cpuState: Uint8Array[] }> {
  const memory = GuestMemory.create(params.size);
  const workload = parseWorkloadSpec({ name: params.workload, seed, ops: 0, params: {} });
  const guest = await Guest.start({ memory, vcpus: params.vcpus, workload });
  await sleep(params.sourceRunMs);
  await guest.park();
  const cpuState = guest.cpuState();
  await guest.stop();
  return { memory, cpuState };
}

async function postcopy(params: PrepagingParams, policy: Prepaging, rep: number, source: { memory: GuestMemory; cpuState: Uint8Array[] }): Promise<PrepagingRun> {
  const missing = source.memory.writtenPages();
  const memory = GuestMemory.create(params.size);
  const map = PresentMap.create(memory.pageCount, params.vcpus);
  map.startPostcopy(missing);
  const order = new PushOrder(memory.pageCount, missing, { policy, pivots: params.vcpus });
  const requests = new FaultRequests(map);
  const workload = parseWorkloadSpec({ name: params.workload, seed: rep + 1, ops: 0, params: {} });
  const guest = await Guest.start({ memory, vcpus: params.vcpus, workload, cpuState: source.cpuState, present: map });
  const pagesPerMs = params.bytesPerSec / 4096 / 1000;
  const inFlight: { page: number; due: number }[] = [];
  const started = performance.now();
  let budget = 0;
  let last = started;
  while (!map.complete) {
    const now = performance.now();
    budget += (now - last) * pagesPerMs;
    last = now;
    for (const page of requests.collect()) {
      if (order.request(page)) inFlight.push({ page, due: now + params.roundTripMs });
    }
    // Answers land one round trip after their request; they take their share of the wire first.
    while (inFlight.length > 0 && inFlight[0]!.due <= now) {
      const { page } = inFlight.shift()!;
      map.place(memory, page, source.memory.page(page));
      budget -= 1;
    }
    while (budget >= order.chunkPages && order.remaining > 0) {
      const chunk = order.next();
      for (const page of chunk) map.place(memory, page, source.memory.page(page));
      budget -= chunk.length;
    }
    if (order.remaining === 0 && inFlight.length === 0) break;
    await map.waitForFault(map.doorbell(), params.tickMs);
  }
  const pushMs = performance.now() - started;
  await guest.park();
  const stats = map.stats();
  const workingSet = memory.dirtyCount();
  await guest.stop();
  return {
    policy,
    rep,
    missing: missing.length,
    faults: requests.pagesRequested,
    workingSet,
    pushMs,
    guestBlockedMs: stats.guestBlockedUs / 1000,
    latencyMedianUs: bucketMedian(stats.latencyBuckets),
  };
}

export async function prepaging(params: PrepagingParams): Promise<BenchOutput<PrepagingParams, PrepagingResult>> {
  const runs: PrepagingRun[] = [];
  for (let rep = 0; rep < params.reps; rep++) {
    const source = await sourceImage(params, rep + 1);
    // Every policy moves the same image; the order rotates so none always runs first.
    for (let i = 0; i < PREPAGING_NAMES.length; i++) {
      const policy = PREPAGING_NAMES[(i + rep) % PREPAGING_NAMES.length]!;
      const run = await postcopy(params, policy, rep, source);
      runs.push(run);
      progress(`rep ${rep + 1}/${params.reps} ${policy}: ${run.faults} faults of ${run.workingSet} pages written, push ${run.pushMs.toFixed(0)} ms`);
    }
  }
  const results = PREPAGING_NAMES.map((policy): PrepagingResult => {
    const mine = runs.filter((r) => r.policy === policy);
    return {
      policy,
      faults: median(mine.map((r) => r.faults)),
      workingSet: median(mine.map((r) => r.workingSet)),
      faultShare: median(mine.map((r) => (r.workingSet > 0 ? r.faults / r.workingSet : null))),
      pushMs: median(mine.map((r) => r.pushMs)),
      guestBlockedMs: median(mine.map((r) => r.guestBlockedMs)),
      latencyMedianUs: median(mine.map((r) => r.latencyMedianUs)),
      runs: mine,
    };
  });
  const notes = [
    `SIMULATED network, one process: a ${formatBytes(params.size)} ${params.workload} guest (${params.vcpus} vCPUs, default pacing) runs ${params.sourceRunMs} ms, parks; ` +
      'its written pages are missing at a fresh guest that resumes from its CPU state behind a PresentMap (real barrier, faults, blocktime)',
    `the main thread is source and wire: ${formatBytes(params.bytesPerSec)}/s of pages, answers land ${params.roundTripMs} ms after the fault is collected, a tick every ${params.tickMs} ms or on a fault`,
    'faults = pages requested (network faults); working set = distinct pages the guest wrote until the push ended (its dirty log); fault share = faults / working set, median over repetitions',
    'latency = fault to the vCPU running again, median from the 24 power-of-two buckets (lower bound of the bucket)',
  ];
  return { bench: 'prepaging', machine: machine(), params, results, notes };
}

export function formatPrepaging(output: BenchOutput<PrepagingParams, PrepagingResult>): string {
  return table(
    ['policy', 'faults', 'working set', 'fault share', 'push ms', 'guest blocked ms', 'latency median us'],
    output.results.map((r) => [
      r.policy,
      fixed(r.faults, 0),
      fixed(r.workingSet, 0),
      r.faultShare === null ? '-' : `${(r.faultShare * 100).toFixed(1)}%`,
      fixed(r.pushMs, 0),
      fixed(r.guestBlockedMs, 1),
      fixed(r.latencyMedianUs, 0),
    ]),
  );
}
