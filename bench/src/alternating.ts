import { GuestMemory, type WorkloadName } from '@livemig/guest';
import { fixed, progress } from './output.js';
import { median, ratio } from './stats.js';
import type { AlternatingGuests, TrackingRun } from './tracking-run.js';

/** How the modes of a guest-throughput benchmark take turns (tracking, barrier). */
export interface AlternationParams {
  size: number;
  reps: number;
  /** Measured seconds per mode and repetition. */
  seconds: number;
  /** Longest window: a repetition's seconds are cut into windows of at most this, the modes taking turns. */
  sliceMs: number;
  warmupMs: number;
}

/** One window of one mode; a cycle is one window of each mode, back to back. */
export type ModeSlice<M extends string> = TrackingRun<M> & { rep: number; cycle: number };

/** The order rotates from cycle to cycle, so no mode always runs first (or last) in a cycle. */
function modeOrder<M extends string>(modes: readonly M[], cycle: number): M[] {
  return modes.map((_, i) => modes[(i + cycle) % modes.length]!);
}

/** Ops over time of these windows of `mode`. */
export function opsPerSec<M extends string>(slices: ModeSlice<M>[], mode: M): number | null {
  const mine = slices.filter((s) => s.mode === mode);
  const ms = mine.reduce((sum, s) => sum + s.ms, 0);
  return ms > 0 ? mine.reduce((sum, s) => sum + s.ops, 0) / (ms / 1000) : null;
}

/** Ops per CPU second of these windows of `mode` (the process's CPU time: see TrackingRun.cpuMs). */
export function opsPerCpuSec<M extends string>(slices: ModeSlice<M>[], mode: M): number | null {
  const mine = slices.filter((s) => s.mode === mode);
  const cpuMs = mine.reduce((sum, s) => sum + s.cpuMs, 0);
  return cpuMs > 0 ? mine.reduce((sum, s) => sum + s.ops, 0) / (cpuMs / 1000) : null;
}

export function byRep<M extends string, T>(slices: ModeSlice<M>[], reps: number, f: (mine: ModeSlice<M>[]) => T): T[] {
  return Array.from({ length: reps }, (_, rep) => f(slices.filter((s) => s.rep === rep)));
}

/** 1 - ops/s(mode) / ops/s(base) over these windows. */
export function overhead<M extends string>(slices: ModeSlice<M>[], mode: M, base: M): number | null {
  const r = ratio(opsPerSec(slices, mode), opsPerSec(slices, base));
  return r === null ? null : 1 - r;
}

/** 1 - ops per CPU second of `mode` / that of `base` over these windows: the CPU each op costs more. */
export function cpuOverhead<M extends string>(slices: ModeSlice<M>[], mode: M, base: M): number | null {
  const r = ratio(opsPerCpuSec(slices, mode), opsPerCpuSec(slices, base));
  return r === null ? null : 1 - r;
}

/** Median over repetitions of a mode's overhead against `base`, each repetition on its own. */
export function medianOverhead<M extends string>(slices: ModeSlice<M>[], reps: number, mode: M, base: M): number | null {
  return median(byRep(slices, reps, (mine) => overhead(mine, mode, base)));
}

/** Median over repetitions of a mode's ops/s. */
export function medianOpsPerSec<M extends string>(slices: ModeSlice<M>[], reps: number, mode: M): number | null {
  return median(byRep(slices, reps, (mine) => opsPerSec(mine, mode)));
}

export function mops(value: number | null): string {
  return fixed(value === null ? null : value / 1e6, 3);
}

export function percent(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(1)}%`;
}

/**
 * A repetition boots one guest per mode (the JIT of a fresh worker differs from boot to boot, so every
 * repetition gets fresh ones), then gives the modes turns of at most sliceMs until each had `seconds`.
 */
export async function measureModes<M extends string>(
  workload: WorkloadName,
  params: AlternationParams,
  modes: readonly M[],
  boot: (memory: GuestMemory, rep: number) => Promise<AlternatingGuests<M>>,
): Promise<ModeSlice<M>[]> {
  const memory = GuestMemory.create(params.size);
  // First touches would land in whichever window comes first: take them all now.
  for (const slot of memory.slots) slot.fill(0);
  const slices: ModeSlice<M>[] = [];
  const perRep = Math.max(1, Math.round((params.seconds * 1000) / params.sliceMs));
  const windowMs = (params.seconds * 1000) / perRep;
  let cycle = 0;
  for (let rep = 0; rep < params.reps; rep++) {
    const guests = await boot(memory, rep);
    try {
      for (const mode of modes) await guests.window(mode, params.warmupMs);
      for (let i = 0; i < perRep; i++, cycle++) {
        for (const mode of modeOrder(modes, cycle)) slices.push({ ...(await guests.window(mode, windowMs)), rep, cycle });
      }
    } finally {
      await guests.stop();
    }
    const mine = slices.filter((s) => s.rep === rep);
    const line = modes.map((m) => `${m} ${mops(opsPerSec(mine, m))}`);
    progress(`${workload} rep ${rep + 1}/${params.reps}: Mops/s ${line.join(', ')}`);
  }
  return slices;
}
