export { expectedDowntimeMs, type RoundObservation, type SwitchoverDecision } from './observation.js';
export {
  POLICY_NAMES,
  PATTERNS_RESENT_FRACTION,
  PATTERNS_SAMPLING_INTERVAL_MS,
  PATTERNS_STABLE_FRACTION,
  XEN_FEW_DIRTY_PAGES,
  XEN_MAX_ROUNDS,
  decide,
  parsePolicyName,
  requirePolicyName,
  type PolicyName,
  type PolicyOptions,
} from './policies.js';
export { SentHistory } from './sent-history.js';
export { SwitchoverCost } from './switchover-cost.js';
export { RecentRounds, RECENT_ROUNDS } from './recent-rounds.js';
export { PageCost, PAGE_COST_MIN_PAGES, type ChannelShareCost } from './page-cost.js';
