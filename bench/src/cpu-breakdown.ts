import { processCpu } from './cpu-ticks.js';

/** One /proc reading of a process: its total CPU seconds and each live thread's, at `atMs` (bench clock). */
export interface CpuSample {
  atMs: number;
  total: number;
  threads: Map<number, number>;
}

/**
 * Where an agent's CPU went between two samples, in seconds, by thread:
 * - main: the agent's main thread (tid = pid): protocol, rounds, filters, control API;
 * - vcpu: the guest's vCPU threads (guest work, not the migration's: left out of the agent's total);
 * - spawned: threads born in between (channel or receiver threads spawned for the migration, their start-up included);
 * - other: threads alive before (pre-spawned channel threads, libuv's pool, V8's compiler and GC helpers);
 * - ended: threads that ended in between (only the process total still counts them).
 */
export interface CpuSplit {
  main: number;
  vcpu: number;
  spawned: number;
  other: number;
  ended: number;
  /** Everything but the vCPUs: the migration's own work on this side. */
  agent: number;
}

export function sampleCpu(pid: number): CpuSample | null {
  const cpu = processCpu(pid);
  return cpu === null ? null : { atMs: performance.now(), ...cpu };
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * Splits the CPU of a process over a series of samples by thread (see CpuSplit), interval by interval, so a
 * thread that ends (a vCPU stopped at commit, a channel thread) counts as what it was up to its last sample;
 * `vcpus` are the guest's threads, "spawned" the threads born after the first sample.
 */
export function splitCpu(pid: number, samples: CpuSample[], vcpus: ReadonlySet<number>): CpuSplit {
  const split = { main: 0, vcpu: 0, spawned: 0, other: 0, ended: 0, agent: 0 };
  const first = samples[0]!.threads;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    let counted = 0;
    for (const [tid, seconds] of b.threads) {
      const used = seconds - (a.threads.get(tid) ?? 0);
      counted += used;
      if (vcpus.has(tid)) split.vcpu += used;
      else if (tid === pid) split.main += used;
      else if (first.has(tid)) split.other += used;
      else split.spawned += used;
    }
    split.ended += Math.max(0, b.total - a.total - counted);
  }
  split.agent = samples[samples.length - 1]!.total - samples[0]!.total - split.vcpu;
  return Object.fromEntries(Object.entries(split).map(([k, v]) => [k, round3(v)])) as unknown as CpuSplit;
}

/** The threads that used at least half the CPU of the busiest between two samples (a flat-out guest's vCPUs). */
export function busyThreads(a: CpuSample, b: CpuSample, pid: number): Set<number> {
  const used = [...b.threads].filter(([tid]) => tid !== pid).map(([tid, s]) => [tid, s - (a.threads.get(tid) ?? 0)] as const);
  const most = Math.max(0, ...used.map(([, s]) => s));
  return new Set(most <= 0 ? [] : used.filter(([, s]) => s >= most / 2).map(([tid]) => tid));
}

/**
 * CPU seconds of the agent (all but `vcpus`) per phase of the migration, from samples taken every few tens
 * of milliseconds: each interval between two samples goes to the phase its middle falls in. `phases` are the
 * source report's phases, `atMs` after `startMs` (the bench's clock when the migration was asked for).
 */
export function cpuByPhase(samples: CpuSample[], vcpus: ReadonlySet<number>, phases: { phase: string; atMs: number }[], startMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const middle = (a.atMs + b.atMs) / 2 - startMs;
    let phase = 'before';
    for (const p of phases) if (p.atMs <= middle) phase = p.phase;
    let vcpu = 0;
    // A vCPU that ended in between is in neither: its last stretch counts as the agent's (one interval at most).
    for (const tid of vcpus) if (b.threads.has(tid)) vcpu += b.threads.get(tid)! - (a.threads.get(tid) ?? 0);
    out[phase] = round3((out[phase] ?? 0) + b.total - a.total - vcpu);
  }
  return out;
}
