/**
 * When to stop iterating and switch to stop-and-copy (Clark et al.; the rule is QEMU's):
 * expected downtime = remaining dirty bytes / measured bandwidth; switch when it is under the downtime
 * limit, or once `maxRounds` pre-copy rounds have been sent, so that a guest dirtying faster than the link
 * drains still migrates.
 */
export interface SwitchoverInput {
  round: number;
  remainingDirtyPages: number;
  /** Guest-memory bytes per millisecond the pre-copy rounds have moved so far. */
  bandwidthBytesPerMs: number;
}

export interface SwitchoverDecision {
  switchover: boolean;
  reason: 'downtime-limit' | 'max-rounds' | null;
  expectedDowntimeMs: number;
}

export interface DowntimePolicyOptions {
  downtimeLimitMs: number;
  maxRounds: number;
}

export function expectedDowntimeMs(remainingDirtyPages: number, bandwidthBytesPerMs: number): number {
  if (remainingDirtyPages === 0) return 0;
  if (!(bandwidthBytesPerMs > 0)) return Number.POSITIVE_INFINITY;
  return (remainingDirtyPages * 4096) / bandwidthBytesPerMs;
}

export function decideSwitchover(input: SwitchoverInput, options: DowntimePolicyOptions): SwitchoverDecision {
  const expected = expectedDowntimeMs(input.remainingDirtyPages, input.bandwidthBytesPerMs);
  if (expected <= options.downtimeLimitMs) {
    return { switchover: true, reason: 'downtime-limit', expectedDowntimeMs: expected };
  }
  if (input.round >= options.maxRounds) {
    return { switchover: true, reason: 'max-rounds', expectedDowntimeMs: expected };
  }
  return { switchover: false, reason: null, expectedDowntimeMs: expected };
}
