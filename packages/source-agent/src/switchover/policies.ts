import { BadArgumentError } from '@livemig/protocol';
import { expectedDowntimeMs, type RoundObservation, type SwitchoverDecision } from './observation.js';

export const POLICY_NAMES = ['downtime', 'xen', 'patterns'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export interface PolicyOptions {
  policy: PolicyName;
  /** downtime: switch once the expected downtime is under this (QEMU's downtime-limit). */
  downtimeLimitMs: number;
  /** Every policy: at most this many pre-copy rounds. */
  maxRounds: number;
  /** Every policy: stop iterating once the migration has run this long. */
  maxTimeMs: number;
}

/** xen: fewer dirty pages than this ends pre-copy (Xen's rule), or ... */
export const XEN_FEW_DIRTY_PAGES = 50;
/** ... this many rounds. */
export const XEN_MAX_ROUNDS = 5;
/** patterns (a): the dirty-page level counts as stable when it moved less than this fraction. */
export const PATTERNS_STABLE_FRACTION = 0.05;
/** patterns (b): all dirty pages would drain within this sampling interval. */
export const PATTERNS_SAMPLING_INTERVAL_MS = 100;
/** patterns (c): this share of a round's pages was also sent in the previous round. */
export const PATTERNS_RESENT_FRACTION = 0.9;

/**
 * Decides after each pre-copy round whether to switch to stop-and-copy. Every policy is bounded by
 * maxRounds and maxTime, so a migration never iterates forever.
 */
export function decide(observation: RoundObservation, options: PolicyOptions): SwitchoverDecision {
  const { dirtyPages, bandwidthBytesPerMs, switchoverCostMs, pageCostMs } = observation;
  const expected = expectedDowntimeMs(dirtyPages, bandwidthBytesPerMs, switchoverCostMs, pageCostMs);
  const decision = (reason: string | null): SwitchoverDecision => ({
    switchover: reason !== null,
    reason,
    expectedDowntimeMs: expected,
  });
  const own = POLICIES[options.policy](observation, options, expected);
  if (own) return decision(own);
  if (observation.round >= options.maxRounds) return decision('max-rounds');
  if (observation.elapsedMs >= options.maxTimeMs) return decision('max-time');
  return decision(null);
}

type Rule = (o: RoundObservation, options: PolicyOptions, expectedDowntimeMs: number) => string | null;

const POLICIES: Record<PolicyName, Rule> = {
  // QEMU/KVM: the expected downtime under the limit. With nothing dirty more rounds cannot lower it, even when
  // the switchover's own cost is above the limit.
  downtime: (o, options, expected) => {
    if (expected <= options.downtimeLimitMs) return 'downtime-limit';
    return o.dirtyPages === 0 ? 'nothing-dirty' : null;
  },

  // Xen: stop when fewer than 50 pages are dirty, or after 5 rounds.
  xen: (o) => {
    if (o.dirtyPages < XEN_FEW_DIRTY_PAGES) return 'xen-few-dirty';
    if (o.round >= XEN_MAX_ROUNDS) return 'xen-max-rounds';
    return null;
  },

  // Ibrahim et al. (SC'11), Algorithm 2: only after the first full pass, switch when more rounds cannot help.
  patterns: (o, _, expected) => {
    if (o.round < 2) return null;
    // (b) activity dropped: every dirty page would go within one sampling interval.
    if (expected <= PATTERNS_SAMPLING_INTERVAL_MS) return 'patterns-drains';
    // (c) the round mostly resent the previous round's pages: the writable working set is being chased.
    if (o.pagesSent > 0 && o.pagesResent >= PATTERNS_RESENT_FRACTION * o.pagesSent) return 'patterns-resent';
    // (a) the modified-page level stopped falling: iterating further will not shrink it.
    const previous = o.dirtyHistory.at(-2);
    if (previous !== undefined && previous > 0 && Math.abs(o.dirtyPages - previous) <= PATTERNS_STABLE_FRACTION * previous) {
      return 'patterns-stable';
    }
    return null;
  },
};

export function parsePolicyName(name: string): PolicyName | undefined {
  return (POLICY_NAMES as readonly string[]).includes(name) ? (name as PolicyName) : undefined;
}

/** The policy named `name`. @throws BadArgumentError naming `label` (a flag or field) and the choices */
export function requirePolicyName(name: string, label: string): PolicyName {
  const policy = parsePolicyName(name);
  if (!policy) throw new BadArgumentError(`${label}: expected one of ${POLICY_NAMES.join(', ')}, got "${name}"`);
  return policy;
}
