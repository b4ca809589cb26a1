export { main } from './cli.js';
export { HostBusyError, PostcopyFailedError, SOURCE_AGENT_ERROR_CLASSES, errorRegistry, type ErrorCodeEntry, type ErrorRegistryName } from './errors.js';
export { GuestHost, hostGuest, planMigration, type GuestHostEvents, type HostOptions, type HostOutcome } from './guest-host.js';
export { AutoConverge, AUTO_CONVERGE_INCREMENT, AUTO_CONVERGE_INITIAL, AUTO_CONVERGE_MAX, AUTO_CONVERGE_THRESHOLD } from './auto-converge.js';
export { BandwidthMeter } from './bandwidth-meter.js';
export {
  DEFAULT_DELTA_CACHE_BYTES,
  DEFAULT_DOWNTIME_LIMIT_MS,
  DEFAULT_MAX_ROUNDS,
  DEFAULT_STREAMS,
  MAX_STREAMS,
  MIGRATION_PHASES,
  Migration,
  checkParameters,
  isCancellable,
  isFinalPhase,
  startMigration,
  type MigrationEvents,
  type MigrationOptions,
  type MigrationParameters,
  type MigrationPhase,
  type MigrationStats,
  MAX_SERIES_SAMPLES,
  SAMPLED_FIELDS,
  StatsSeries,
  type PhaseMark,
  type StatsSample,
  type StatsSeriesReport,
} from './outgoing/index.js';
export { SharedRateLimiter } from './rate-limiter.js';
export { MAX_BATCH_PAGES } from './channel-messages.js';
export { loadImageFile } from './image-file.js';
export type { EncodingStats } from './channel-messages.js';
export { emptyReport, type MigrationReport, type MigrationStatus, type PagesByEncoding, type RoundReport } from './report.js';
export { RUN_DEFAULTS, type SourceReport } from './run-command.js';
export {
  POLICY_NAMES,
  PAGE_COST_MIN_PAGES,
  PageCost,
  RecentRounds,
  SentHistory,
  SwitchoverCost,
  decide,
  expectedDowntimeMs,
  parsePolicyName,
  type ChannelShareCost,
  type PolicyName,
  type PolicyOptions,
  type RoundObservation,
  type SwitchoverDecision,
} from './switchover/index.js';
export { ControlApi, type ControlApiSource } from './control-api.js';
export { MAX_CHUNK_PAGES, MIN_CHUNK_PAGES, PREPAGING_NAMES, PushOrder, type Prepaging, type PushOrderOptions } from './postcopy/push-order.js';
