import { UsageError } from './units.js';

/** One guest workload of the live benchmark: the `source-agent run` flags that make it. */
export interface LiveWorkload {
  /** Case name, e.g. `uniform-50MB`. */
  name: string;
  /** The agent's workload (`--workload`); `--workloads uniform` selects every case of that family. */
  family: string;
  flags: string[];
  /** Guest memory for this case, instead of the benchmark's (256 MiB). */
  memory?: string;
}

/**
 * Dirty rates are `--dirty-rate` bytes of pages per second for the whole guest (each op dirties one page).
 * hotcold: 64 MiB/s (the agent's default, 16384 writes/s), 95% of them into a 4 MiB hot set, so about 1000
 * hot pages plus ~800 cold pages/s stay dirty. stream: 256 MiB/s, one full sweep of the 256 MiB guest per
 * second; unpaced (0) it sweeps as fast as a vCPU writes, which says more about the host than the policy.
 * incr: QEMU's migration-test guest, 128 MiB unpaced, as in issue 11: a sweep takes a few ms, so every round,
 * the final one too, carries all 32,768 pages, each with one byte changed.
 */
export const LIVE_WORKLOADS: readonly LiveWorkload[] = [
  { name: 'idle', family: 'idle', flags: ['--workload', 'idle'] },
  { name: 'hotcold', family: 'hotcold', flags: ['--workload', 'hotcold', '--hot-bytes', '4MiB', '--dirty-rate', '64MiB'] },
  { name: 'uniform-10MB', family: 'uniform', flags: ['--workload', 'uniform', '--dirty-rate', '10MB'] },
  { name: 'uniform-50MB', family: 'uniform', flags: ['--workload', 'uniform', '--dirty-rate', '50MB'] },
  { name: 'uniform-200MB', family: 'uniform', flags: ['--workload', 'uniform', '--dirty-rate', '200MB'] },
  { name: 'stream', family: 'stream', flags: ['--workload', 'stream', '--dirty-rate', '256MiB'] },
  { name: 'incr', family: 'incr', flags: ['--workload', 'incr', '--dirty-rate', '0'], memory: '128MiB' },
];

export const LIVE_POLICIES = ['downtime', 'xen', 'patterns'] as const;

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** `--workloads LIST`: case names or families (`uniform` = all three rates); all when absent. */
export function selectWorkloads(text: string | undefined): LiveWorkload[] {
  if (text === undefined) return [...LIVE_WORKLOADS];
  const wanted = list(text);
  for (const w of wanted) {
    if (!LIVE_WORKLOADS.some((c) => c.name === w || c.family === w)) {
      throw new UsageError(`--workloads: unknown workload "${w}" (${LIVE_WORKLOADS.map((c) => c.name).join(', ')}, or a family)`);
    }
  }
  const chosen = LIVE_WORKLOADS.filter((c) => wanted.includes(c.name) || wanted.includes(c.family));
  if (chosen.length === 0) throw new UsageError('--workloads: no workload selected');
  return chosen;
}

/** `--policies LIST`: switchover policies passed to `source-agent run --policy`; all when absent. */
export function selectPolicies(text: string | undefined): string[] {
  if (text === undefined) return [...LIVE_POLICIES];
  const wanted = list(text);
  for (const p of wanted) {
    if (!(LIVE_POLICIES as readonly string[]).includes(p)) throw new UsageError(`--policies: unknown policy "${p}" (${LIVE_POLICIES.join(', ')})`);
  }
  if (wanted.length === 0) throw new UsageError('--policies: no policy selected');
  return wanted;
}
