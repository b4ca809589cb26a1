import { describe, expect, it } from 'vitest';
import { MAX_SERIES_SAMPLES, SAMPLED_FIELDS, StatsSeries, type MigrationStats, type StatsSeriesReport } from '@livemig/source-agent';

/** Live statistics at tick `i` of the 100 ms ticker: every sampled field says which tick it was. */
function statsAt(i: number): MigrationStats {
  const stats: Record<string, unknown> = { elapsedMs: i * 100 };
  for (const field of SAMPLED_FIELDS) stats[field] = i;
  return stats as unknown as MigrationStats;
}

function emptySeries(): StatsSeriesReport {
  return { intervalMs: 0, maxSamples: 0, samples: [] };
}

describe('StatsSeries', () => {
  it('keeps every tick of a short migration, each sampled field as the statistics had it', () => {
    const report = emptySeries();
    const series = new StatsSeries(report);
    for (let i = 0; i < 50; i++) series.tick(statsAt(i));
    expect(report.intervalMs).toBe(100);
    expect(report.maxSamples).toBe(MAX_SERIES_SAMPLES);
    expect(report.samples).toHaveLength(50);
    expect(report.samples[7]).toEqual({ atMs: 700, ...Object.fromEntries(SAMPLED_FIELDS.map((field) => [field, 7])) });
  });

  it('stays bounded however long the migration: every second sample dropped, the interval doubled, even spacing kept', () => {
    const report = emptySeries();
    const series = new StatsSeries(report, 8);
    for (let i = 0; i < 8; i++) series.tick(statsAt(i));
    expect(report.samples.map((sample) => sample.round)).toEqual([0, 2, 4, 6]);
    expect(report.intervalMs).toBe(200);
    for (let i = 8; i < 1000; i++) series.tick(statsAt(i));
    expect(report.samples.length).toBeLessThan(8);
    expect(report.samples.length).toBeGreaterThanOrEqual(4);
    const ticks = report.samples.map((sample) => sample.round);
    const step = report.intervalMs / 100;
    expect(ticks).toEqual(ticks.map((_, k) => k * step));
    // The end of the migration is kept whatever the stride.
    series.mark(statsAt(1000));
    expect(report.samples.at(-1)!.atMs).toBe(100_000);
  });

  it('does not take the same moment twice when a phase mark falls on a tick', () => {
    const report = emptySeries();
    const series = new StatsSeries(report);
    series.tick(statsAt(3));
    series.mark(statsAt(3));
    expect(report.samples).toHaveLength(1);
  });
});
