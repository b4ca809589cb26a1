import type { Figure } from '@livemig/report-html';
import type { BaselineResult } from '../baseline-bench.js';
import type { EncodeResult } from '../encode.js';
import type { LiveResult } from '../live-summary.js';
import type { StopCopyResult } from '../stop-copy.js';
import type { TrackingResult } from '../tracking.js';

const BLUE = '#2f80ed';
const GREY = '#9aa5b1';
const RED = '#eb5757';
const ORANGE = '#f2994a';
const GREEN = '#27ae60';

function bar(labels: string[], datasets: { label: string; data: (number | null)[]; backgroundColor: string }[], yTitle: string, extra: Record<string, unknown> = {}): Figure['config'] {
  return {
    type: 'bar',
    data: { labels, datasets },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } }, ...extra } },
  };
}

const round = (value: number | null, digits = 3): number | null => (value === null ? null : Number(value.toFixed(digits)));

/** The figures of one benchmark's results: medians, as its table prints them. */
export function benchFigures(bench: string, results: readonly unknown[]): Figure[] {
  switch (bench) {
    case 'baseline': {
      const rows = results as BaselineResult[];
      return [{ id: 'throughput', title: 'Loopback TCP between two processes (median GB/s)', config: bar(rows.map((r) => r.image), [{ label: 'GB/s', data: rows.map((r) => round(r.gbps)), backgroundColor: GREY }], 'GB/s') }];
    }
    case 'stop-copy': {
      const rows = results as StopCopyResult[];
      const labels = rows.map((r) => r.image);
      return [
        {
          id: 'throughput',
          title: 'Stop-and-copy of a paused guest against the raw TCP baseline on the same bytes (median GB/s of image)',
          config: bar(labels, [
            { label: 'livemig', data: rows.map((r) => round(r.gbps)), backgroundColor: BLUE },
            { label: 'baseline (raw TCP push)', data: rows.map((r) => round(r.baselineGbps)), backgroundColor: GREY },
          ], 'GB/s'),
        },
        {
          id: 'wire',
          title: 'Bytes on the wire, as % of the image',
          config: bar(labels, [{ label: '% of image on the wire', data: rows.map((r) => round(r.wirePercent, 1)), backgroundColor: ORANGE }], '%'),
        },
      ];
    }
    case 'encode': {
      const rows = results as EncodeResult[];
      return [
        {
          id: 'throughput',
          title: 'Per-encoding throughput on one core (median GB/s of pages)',
          height: Math.max(320, rows.length * 26),
          config: { ...bar(rows.map((r) => r.case), [{ label: 'GB/s', data: rows.map((r) => round(r.gbps)), backgroundColor: BLUE }], 'GB/s'), options: { indexAxis: 'y', scales: { x: { beginAtZero: true, title: { display: true, text: 'GB/s' } } } } },
        },
      ];
    }
    case 'tracking': {
      const rows = results as TrackingResult[];
      const mops = (value: number | null): number | null => round(value === null ? null : value / 1e6);
      return [
        {
          id: 'ops',
          title: 'Guest throughput with dirty logging against without (median Mops/s)',
          config: bar(rows.map((r) => r.workload), [
            { label: 'no logging', data: rows.map((r) => mops(r.offOpsPerSec)), backgroundColor: GREY },
            { label: 'logging', data: rows.map((r) => mops(r.onOpsPerSec)), backgroundColor: BLUE },
            { label: 'logging + harvests', data: rows.map((r) => mops(r.harvestOpsPerSec)), backgroundColor: ORANGE },
          ], 'Mops/s'),
        },
      ];
    }
    case 'live':
      return liveFigures(results as LiveResult[]);
    default:
      return [];
  }
}

function liveFigures(rows: LiveResult[]): Figure[] {
  const labels = rows.map((r) => `${r.workload} · ${r.policy}`);
  const height = 360;
  return [
    {
      id: 'downtime',
      title: 'Downtime of a live migration, split into its parts (median ms per case)',
      note: 'stop-and-copy: park to Complete sent; commit: Complete to Committed; activation: Committed to Activated. Each part is its own median, so the stack need not equal the median downtime.',
      height,
      config: bar(labels, [
        { label: 'stop-and-copy', data: rows.map((r) => round(r.sourceDowntimeMs, 1)), backgroundColor: RED },
        { label: 'commit', data: rows.map((r) => round(r.commitMs, 1)), backgroundColor: ORANGE },
        { label: 'activation', data: rows.map((r) => round(r.activateMs, 1)), backgroundColor: GREEN },
      ], 'ms', { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'ms' } } }),
    },
    {
      id: 'expected-downtime',
      title: 'Expected against measured downtime (median ms per case)',
      height,
      config: bar(labels, [
        { label: 'expected at the switchover', data: rows.map((r) => round(r.expectedDowntimeMs, 1)), backgroundColor: BLUE },
        { label: 'measured', data: rows.map((r) => round(r.downtimeMs, 1)), backgroundColor: RED },
      ], 'ms'),
    },
    {
      id: 'rounds',
      title: 'Pre-copy rounds and total time (medians per case)',
      height,
      config: {
        type: 'bar',
        data: {
          labels,
          datasets: [
            { label: 'pre-copy rounds', data: rows.map((r) => r.precopyRounds), backgroundColor: BLUE, yAxisID: 'rounds' },
            { label: 'total time (s)', data: rows.map((r) => round(r.totalTimeMs === null ? null : r.totalTimeMs / 1000, 2)), backgroundColor: GREY, yAxisID: 'seconds' },
          ],
        },
        options: {
          scales: {
            rounds: { position: 'left', beginAtZero: true, title: { display: true, text: 'rounds' } },
            seconds: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 's' } },
          },
        },
      },
    },
  ];
}
