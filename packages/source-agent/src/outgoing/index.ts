export { Migration, startMigration, type MigrationEvents } from './migration.js';
export type { MigrationStats } from './live-stats.js';
export {
  DEFAULT_DELTA_CACHE_BYTES,
  DEFAULT_DOWNTIME_LIMIT_MS,
  DEFAULT_MAX_ROUNDS,
  DEFAULT_STREAMS,
  MAX_STREAMS,
  type MigrationOptions,
} from './options.js';
export { checkParameters, checkStreams, type MigrationParameters } from './parameters.js';
export { MIGRATION_PHASES, isCancellable, isFinalPhase, type MigrationPhase } from './phases.js';
export { MAX_SERIES_SAMPLES, SAMPLED_FIELDS, StatsSeries, type PhaseMark, type StatsSample, type StatsSeriesReport } from './stats-series.js';
