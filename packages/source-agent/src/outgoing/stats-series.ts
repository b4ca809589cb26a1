import { STATS_SAMPLE_INTERVAL_MS, type MigrationStats } from './live-stats.js';

/**
 * The live statistics a report keeps over time, one column each. A later mode adds its counter here (and to
 * MigrationStats) and the series carries it: post-copy's faults would be one more name.
 */
export const SAMPLED_FIELDS = [
  'round',
  'transferredBytes',
  'remainingBytes',
  'pagesTransferred',
  'dirtyPagesRate',
  'bandwidthBytesPerSec',
  'pagesPerSecond',
  'expectedDowntimeMs',
  'throttlePercent',
  'progressPercent',
] as const satisfies readonly (keyof MigrationStats)[];

export type SampledField = (typeof SAMPLED_FIELDS)[number];

/** One sample: the time since the migration started and the sampled fields as they were then. */
export type StatsSample = { atMs: number } & { [F in SampledField]: MigrationStats[F] };

/** Most samples a report keeps; a longer migration is downsampled (see StatsSeries). */
export const MAX_SERIES_SAMPLES = 600;

/** The report's `series`: samples spaced `intervalMs` apart (the last one is the end of the migration). */
export interface StatsSeriesReport {
  /** Spacing of the samples: 100 ms, doubled each time the series was halved. */
  intervalMs: number;
  maxSamples: number;
  samples: StatsSample[];
}

/** When the migration entered each phase, in ms since it started. */
export interface PhaseMark {
  phase: string;
  atMs: number;
}

/**
 * The live statistics sampled every 100 ms (the progress ticker), plus one at each phase change, bounded: when MAX_SERIES_SAMPLES samples are
 * held, every second one is dropped and only every second tick is kept from then on, so the interval doubles.
 * A migration of any length thus keeps between half and all of MAX_SERIES_SAMPLES samples, evenly spaced.
 * Rates in a sample are the 300 ms window's at that tick: downsampling drops ticks, it never averages them.
 */
export class StatsSeries {
  private stride = 1;
  private ticks = 0;

  constructor(
    private readonly series: StatsSeriesReport,
    private readonly maxSamples = MAX_SERIES_SAMPLES,
  ) {
    series.intervalMs = STATS_SAMPLE_INTERVAL_MS;
    series.maxSamples = maxSamples;
  }

  /** A tick of the progress ticker; kept when it falls on the current stride. */
  tick(stats: MigrationStats): void {
    if (this.ticks++ % this.stride === 0) this.push(stats);
  }

  /**
   * A sample outside the ticks: at each phase change and at the end, so that a migration shorter than a
   * tick still has its start and end, and every phase its first sample.
   */
  mark(stats: MigrationStats): void {
    const last = this.series.samples.at(-1);
    if (last && last.atMs === stats.elapsedMs) return;
    this.push(stats);
  }

  private push(stats: MigrationStats): void {
    const sample = { atMs: stats.elapsedMs } as StatsSample;
    for (const field of SAMPLED_FIELDS) (sample as Record<string, unknown>)[field] = stats[field];
    this.series.samples.push(sample);
    if (this.series.samples.length >= this.maxSamples) {
      this.series.samples = this.series.samples.filter((_, index) => index % 2 === 0);
      this.stride *= 2;
      this.series.intervalMs = STATS_SAMPLE_INTERVAL_MS * this.stride;
    }
  }
}
