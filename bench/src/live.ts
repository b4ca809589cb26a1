import { performance } from 'node:perf_hooks';
import { Scratch } from './image-set.js';
import type { LiveWorkload } from './live-cases.js';
import { sourceRunHelp } from './agents.js';
import { liveRun, type LiveRun, type LiveRunParams } from './live-run.js';
import { checkTargets, summarise, type LiveResult, type TargetCheck } from './live-summary.js';
import { bytesOrDash, fixed, machine, progress, table, type BenchOutput } from './output.js';

export interface LiveParams {
  reps: number;
  memory: string;
  vcpus: number;
  migrateAfter: string;
  maxRounds: number;
  maxTime: string;
  /** The downtime policy's limit in force: the --downtime-limit given, or the agent's default. */
  downtimeLimit: string;
  downtimeLimitFrom: 'flag' | 'agent default';
  destRunFor: string;
  timeoutMs: number;
  workloads: LiveWorkload[];
  policies: string[];
}

export type LiveOutput = BenchOutput<LiveParams, LiveResult> & { targets: TargetCheck[] };

const MIGRATE_AFTER_MS = 2_000;
const MAX_TIME_MS = 20_000;

export const LIVE_DEFAULTS = { memory: '256MiB', vcpus: 2, migrateAfter: '2s', maxRounds: 30, maxTime: '20s', destRunFor: '200ms' } as const;

const REQUIRED_FLAGS = ['--workload', '--dirty-rate', '--hot-bytes', '--migrate-after', '--policy', '--max-rounds', '--max-time', '--downtime-limit'];

/** Checks that `source-agent run` takes every flag used here, and reads its default --downtime-limit. */
async function probeSource(timeoutMs: number): Promise<{ defaultDowntimeLimit: string | null }> {
  const text = await sourceRunHelp(timeoutMs);
  const missing = REQUIRED_FLAGS.filter((flag) => !text.includes(flag));
  if (missing.length > 0) throw new Error(`source-agent run lacks ${missing.join(', ')}: cannot run the live benchmark`);
  const match = /--downtime-limit[\s\S]*?\[default: "([^"]+)"\]/.exec(text);
  return { defaultDowntimeLimit: match?.[1] ?? null };
}

export async function live(options: {
  reps: number;
  workloads: LiveWorkload[];
  policies: string[];
  downtimeLimit: string | null;
  timeoutMs: number;
}): Promise<LiveOutput> {
  const { defaultDowntimeLimit } = await probeSource(options.timeoutMs);
  const params: LiveParams = {
    reps: options.reps,
    ...LIVE_DEFAULTS,
    downtimeLimit: options.downtimeLimit ?? defaultDowntimeLimit ?? 'unknown',
    downtimeLimitFrom: options.downtimeLimit === null ? 'agent default' : 'flag',
    timeoutMs: options.timeoutMs,
    workloads: options.workloads,
    policies: options.policies,
  };
  const runParams: LiveRunParams = {
    ...LIVE_DEFAULTS,
    migrateAfterMs: MIGRATE_AFTER_MS,
    downtimeLimit: options.downtimeLimit,
    // Pre-copy stops by max-time; stop-and-copy of all 256 MiB and the commit fit well within a minute more.
    deadlineMs: MIGRATE_AFTER_MS + MAX_TIME_MS + 60_000,
    timeoutMs: options.timeoutMs,
  };
  const cases = options.workloads.flatMap((w) => options.policies.map((policy) => ({ workload: w, policy })));
  const runs = new Map<string, LiveRun[]>(cases.map((c) => [`${c.workload.name}/${c.policy}`, []]));
  const scratch = await Scratch.create();
  try {
    // Repetition-major: rep 1 of every case, then rep 2, ..., so noise from the host spreads over all cases.
    for (let rep = 1; rep <= options.reps; rep++) {
      for (const [i, { workload, policy }] of cases.entries()) {
        const started = performance.now();
        const run = await liveRun(workload, policy, rep, runParams, scratch);
        runs.get(`${workload.name}/${policy}`)!.push(run);
        progress(
          `rep ${rep}/${options.reps} case ${i + 1}/${cases.length} ${workload.name}/${policy}: ` +
            (run.ok
              ? `downtime ${fixed(run.downtimeMs, 1)} ms (expected ${fixed(run.expectedDowntimeMs, 1)}), ` +
                `${run.precopyRounds}+1 rounds, ${run.switchoverReason}, total ${fixed(run.totalTimeMs, 0)} ms`
              : `FAILED (${run.error})`) +
            ` [${((performance.now() - started) / 1000).toFixed(1)} s]`,
        );
      }
    }
  } finally {
    await scratch.dispose();
  }
  const results = cases.map((c) => summarise(c.workload.name, c.policy, runs.get(`${c.workload.name}/${c.policy}`)!));
  const targets = checkTargets(results);
  return { bench: 'live', machine: machine(), params, results, notes: notes(params, results, targets), targets };
}

function percent(value: number | null): string {
  return value === null ? '-' : `${value >= 0 ? '+' : ''}${(100 * value).toFixed(0)}%`;
}

function count(value: number | null): string {
  return value === null ? '-' : Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function notes(params: LiveParams, results: LiveResult[], targets: TargetCheck[]): string[] {
  const all = results.flatMap((r) => r.runs);
  const fromLog = all.filter((r) => r.beforeFrom === 'log').length;
  const out = [
    `guest: ${params.memory}, ${params.vcpus} vCPUs, --ops 0, migration after ${params.migrateAfter}, --max-rounds ${params.maxRounds}, ` +
      `--max-time ${params.maxTime}; destination hosts the guest ${params.destRunFor} after activation. ` +
      `downtime policy limit: ${params.downtimeLimit} (${params.downtimeLimitFrom}).`,
    'workloads: --dirty-rate is bytes of pages dirtied per second by the whole guest (one page per op). hotcold: 64MiB/s ' +
      '(the agent default), 95% of writes into the 4 MiB hot set; stream: 256MiB/s, one sweep of guest memory per second; ' +
      'incr: 128 MiB, unpaced, every page dirty in every round (issue 11).',
    `ops/s before = guestOpsAtStart / (startedAt - the source's "guest running" log time): ${fromLog}/${all.length} runs; ` +
      `the rest used --migrate-after (${params.migrateAfter}). ops/s during = (guestOpsAtPark - guestOpsAtStart) / timeToParkMs. ` +
      'Writing workloads are paced at --dirty-rate (idle at 1000 ops/s per vCPU), so during/before cannot exceed ~1: ' +
      'below 1 means the vCPUs fell behind their pace while pre-copy ran.',
    'downtime = park -> Activated at the source = src (park, final round, CPU state, Complete sent) + commit ' +
      '(Complete -> Committed: destination drains channels, checks the digest) + activ (Committed -> Activated; the source ' +
      'also stops its own vCPU workers meanwhile). wall = park -> activation at the destination from both reports\' ' +
      'wall-clock timestamps (startedAt + timeToParkMs, dest startedAt + totalTimeMs): an upper bound, since the destination ' +
      'stamps it after refilling its worker pools; it does not wait for the source to read Activated.',
    'exp ms / exp err: the last pre-copy round\'s expectedDowntimeMs (dirty bytes / recent page bandwidth) and ' +
      '(expected - measured) / measured against downtimeMs; |err| is the median of |error|. JSON also has it against ' +
      'sourceDowntimeMs (expectedErrorVsSource).',
  ];
  for (const r of results) for (const e of r.errors) out.push(`FAILED ${r.workload}/${r.policy} ${e}`);
  for (const t of targets) {
    const verdict = t.met === null ? 'no data' : t.met ? 'met' : 'NOT met';
    const value = t.target.includes('error') ? percent(t.value).replace('+', '') : fixed(t.value, 1);
    out.push(`target: ${t.target} [${t.workload}/${t.policy}]: ${verdict} (${value}; ${t.detail})`);
  }
  return out;
}

export function formatLive(output: LiveOutput): string {
  const rows = output.results.map((r) => [
    r.workload,
    r.policy,
    `${r.completed}/${r.reps}`,
    fixed(r.downtimeMs, 1),
    fixed(r.wallDowntimeMs, 0),
    fixed(r.sourceDowntimeMs, 1),
    fixed(r.commitMs, 1),
    fixed(r.activateMs, 1),
    fixed(r.totalTimeMs, 0),
    r.precopyRounds === null ? '-' : `${count(r.precopyRounds)}+1`,
    bytesOrDash(r.bytesOnWire),
    r.completed === 0 ? 'FAILED' : (r.switchoverReason ?? '-'),
    fixed(r.slowdown, 2),
    fixed(r.expectedDowntimeMs, 1),
    percent(r.expectedError),
    percent(r.expectedAbsError).replace('+', ''),
  ]);
  return table(
    ['workload', 'policy', 'ok', 'down ms', 'wall', 'src', 'commit', 'activ', 'total ms', 'rounds', 'on wire', 'reason', 'ops dur/bef', 'exp ms', 'exp err', '|err|'],
    rows,
  );
}
