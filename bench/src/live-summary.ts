import type { LiveRun } from './live-run.js';
import { median, range } from './stats.js';

export interface LiveResult {
  workload: string;
  policy: string;
  reps: number;
  completed: number;
  /** Medians over the completed runs. */
  downtimeMs: number | null;
  downtimeRange: [number, number] | null;
  wallDowntimeMs: number | null;
  sourceDowntimeMs: number | null;
  sourceDowntimeCpuMs: number | null;
  commitMs: number | null;
  activateMs: number | null;
  destActivationMs: number | null;
  finalRoundMs: number | null;
  finalRoundPages: number | null;
  totalTimeMs: number | null;
  timeToParkMs: number | null;
  rounds: number | null;
  precopyRounds: number | null;
  bytesOnWire: number | null;
  /** The most frequent switchover reason, and how often each occurred. */
  switchoverReason: string | null;
  reasons: Record<string, number>;
  opsPerSecBefore: number | null;
  opsPerSecDuring: number | null;
  /** Median of each run's during / before. */
  slowdown: number | null;
  expectedDowntimeMs: number | null;
  /** Median signed (expected - measured) / measured, and median of its absolute value. */
  expectedError: number | null;
  expectedAbsError: number | null;
  expectedErrorVsSource: number | null;
  errors: string[];
  runs: LiveRun[];
}

function mostFrequent(counts: Record<string, number>): string | null {
  let best: string | null = null;
  for (const [reason, n] of Object.entries(counts)) if (best === null || n > counts[best]!) best = reason;
  return best;
}

export function summarise(workload: string, policy: string, runs: LiveRun[]): LiveResult {
  const ok = runs.filter((r) => r.ok);
  const m = (f: (r: LiveRun) => number | null): number | null => median(ok.map(f));
  const reasons: Record<string, number> = {};
  for (const r of ok) {
    const reason = r.switchoverReason ?? 'none';
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  const errors = runs.filter((r) => !r.ok).map((r) => `rep ${r.rep}: ${r.error ?? r.status}`);
  return {
    workload,
    policy,
    reps: runs.length,
    completed: ok.length,
    downtimeMs: m((r) => r.downtimeMs),
    downtimeRange: range(ok.map((r) => r.downtimeMs)),
    wallDowntimeMs: m((r) => r.wallDowntimeMs),
    sourceDowntimeMs: m((r) => r.sourceDowntimeMs),
    sourceDowntimeCpuMs: m((r) => r.sourceDowntimeCpuMs),
    commitMs: m((r) => r.commitMs),
    activateMs: m((r) => r.activateMs),
    destActivationMs: m((r) => r.destActivationMs),
    finalRoundMs: m((r) => r.finalRoundMs),
    finalRoundPages: m((r) => r.finalRoundPages),
    totalTimeMs: m((r) => r.totalTimeMs),
    timeToParkMs: m((r) => r.timeToParkMs),
    rounds: m((r) => r.rounds),
    precopyRounds: m((r) => r.precopyRounds),
    bytesOnWire: m((r) => r.bytesOnWire),
    switchoverReason: mostFrequent(reasons),
    reasons,
    opsPerSecBefore: m((r) => r.opsPerSecBefore),
    opsPerSecDuring: m((r) => r.opsPerSecDuring),
    slowdown: m((r) => r.slowdown),
    expectedDowntimeMs: m((r) => r.expectedDowntimeMs),
    expectedError: m((r) => r.expectedError),
    expectedAbsError: m((r) => (r.expectedError === null ? null : Math.abs(r.expectedError))),
    expectedErrorVsSource: m((r) => r.expectedErrorVsSource),
    errors,
    runs,
  };
}

/** A target from the issue, checked against the medians; `met` is null when there is nothing to judge. */
export interface TargetCheck {
  target: string;
  workload: string;
  policy: string;
  value: number | null;
  limit: number;
  met: boolean | null;
  detail: string;
}

export const HOTCOLD_DOWNTIME_TARGET_MS = 10;
/** Pre-copy rounds after round 1 (the first full pass) before stream switches under patterns. */
export const STREAM_PATTERNS_EXTRA_ROUNDS = 3;
export const EXPECTED_ERROR_TARGET = 0.2;

function check(target: string, r: LiveResult, value: number | null, limit: number, detail: string): TargetCheck {
  return { target, workload: r.workload, policy: r.policy, value, limit, met: value === null ? null : value <= limit, detail };
}

export function checkTargets(results: LiveResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const r of results) {
    if (r.workload === 'hotcold') {
      checks.push(check(`hotcold median downtime <= ${HOTCOLD_DOWNTIME_TARGET_MS} ms`, r, r.downtimeMs, HOTCOLD_DOWNTIME_TARGET_MS, `${r.completed}/${r.reps} completed`));
    }
    if (r.workload === 'stream' && r.policy === 'patterns') {
      const ok = r.runs.filter((run) => run.ok && run.precopyRounds !== null);
      const within = ok.filter((run) => run.precopyRounds! - 1 <= STREAM_PATTERNS_EXTRA_ROUNDS).length;
      const extra = r.precopyRounds === null ? null : r.precopyRounds - 1;
      checks.push(
        check(
          `stream under patterns switches within ${STREAM_PATTERNS_EXTRA_ROUNDS} rounds after the first full pass`,
          r,
          extra,
          STREAM_PATTERNS_EXTRA_ROUNDS,
          `median ${extra ?? '-'} pre-copy rounds after round 1; ${within}/${ok.length} completed runs within the limit`,
        ),
      );
    }
    if (r.workload === 'hotcold' || r.workload.startsWith('uniform')) {
      checks.push(
        check(
          `expected-downtime error <= ${EXPECTED_ERROR_TARGET * 100}% (median |expected - measured| / measured)`,
          r,
          r.expectedAbsError,
          EXPECTED_ERROR_TARGET,
          `signed median ${r.expectedError === null ? '-' : `${(100 * r.expectedError).toFixed(0)}%`}`,
        ),
      );
    }
  }
  return checks;
}
