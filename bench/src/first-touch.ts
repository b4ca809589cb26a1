import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '@livemig/agent-runtime';
import { NodeChild, track } from './child.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, ratio } from './stats.js';
import { gbPerSecond } from './units.js';

const CHILD = fileURLToPath(new URL('./first-touch-child.js', import.meta.url));

export const FIRST_TOUCH_MODES = ['fresh', 'small-slots', 'touched', 'prefault', 'reused', 'second'] as const;
type Mode = (typeof FIRST_TOUCH_MODES)[number];

export interface FirstTouchParams {
  size: number;
  reps: number;
  timeoutMs: number;
}

export interface FirstTouchResult {
  mode: Mode;
  /** Medians over repetitions. */
  ms: number | null;
  gbps: number | null;
  /** Median over repetitions of this mode's time over `touched`'s time in the same repetition. */
  perTouched: number | null;
  runs: number[];
  /** The child's transparent huge pages after the fill (AnonHugePages), per repetition. */
  anonHugeKiB: (number | null)[];
}

/**
 * What the first touch of fresh memory costs a destination: filling SharedArrayBuffer slots never touched
 * before, against the same fill into slots touched beforehand, and into fresh slots with a pre-faulting worker
 * running alongside. Each fill runs in a process of its own (a fresh address space each time); the modes
 * alternate within each repetition, so they see the same noise.
 */
export async function firstTouch(params: FirstTouchParams): Promise<BenchOutput<FirstTouchParams, FirstTouchResult>> {
  const runs = new Map<Mode, number[]>(FIRST_TOUCH_MODES.map((m) => [m, []]));
  const huge = new Map<Mode, (number | null)[]>(FIRST_TOUCH_MODES.map((m) => [m, []]));
  for (let rep = 1; rep <= params.reps; rep++) {
    for (const mode of FIRST_TOUCH_MODES) {
      const child = track(new NodeChild(`first-touch ${mode}`, CHILD, [String(params.size), mode], { timeoutMs: params.timeoutMs }));
      const [line] = await child.waitForLine(/^\{.*\}$/);
      await child.succeeded();
      const { ms, anonHugeKiB } = JSON.parse(line) as { ms: number; anonHugeKiB: number | null };
      runs.get(mode)!.push(ms);
      huge.get(mode)!.push(anonHugeKiB);
      progress(`first-touch rep ${rep}/${params.reps} ${mode}: ${ms.toFixed(1)} ms`);
    }
  }
  const touched = runs.get('touched')!;
  const results = FIRST_TOUCH_MODES.map((mode): FirstTouchResult => {
    const times = runs.get(mode)!;
    const ms = median(times);
    return {
      mode,
      ms,
      gbps: ms === null ? null : gbPerSecond(params.size, ms),
      perTouched: median(times.map((t, i) => ratio(t, touched[i] ?? null))),
      runs: times,
      anonHugeKiB: huge.get(mode)!,
    };
  });
  const notes = [
    `${formatBytes(params.size)} filled in 64 KiB copies per run; one process per run`,
    `transparent huge pages: ${transparentHugePages()}`,
  ];
  return { bench: 'first-touch', machine: machine(), params, results, notes };
}

export function formatFirstTouch(output: BenchOutput<FirstTouchParams, FirstTouchResult>): string {
  return table(
    ['memory', 'ms', 'GB/s', 'x touched', 'AnonHugePages KiB (max)'],
    output.results.map((r) => [r.mode, fixed(r.ms, 1), fixed(r.gbps, 2), fixed(r.perTouched, 2), String(Math.max(0, ...r.anonHugeKiB.map((k) => k ?? 0)))]),
  );
}

/** The kernel's THP settings (`enabled`, `defrag`), the chosen value of each in brackets. */
function transparentHugePages(): string {
  const read = (name: string): string => {
    try {
      return readFileSync(`/sys/kernel/mm/transparent_hugepage/${name}`, 'utf8').trim();
    } catch {
      return 'unknown';
    }
  };
  return `enabled ${read('enabled')}, defrag ${read('defrag')}`;
}
