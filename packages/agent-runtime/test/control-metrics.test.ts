import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ControlClient } from '../dist/control/control-client.js';
import { ControlServer } from '../dist/control/http-server.js';
import { createMetrics, metricsHandler, type MetricSample } from '../dist/control/metrics.js';

const DESCRIBE = [
  { name: 'bytes_sent_total', help: 'Bytes sent to the destination.', type: 'counter' },
  { name: 'pages_sent_total', help: 'Pages sent, by encoding.', type: 'counter', labelNames: ['encoding'] },
  { name: 'round', help: 'Current pre-copy round.', type: 'gauge' },
  { name: 'migration_duration_seconds', help: 'Time since the migration started.', type: 'gauge' },
] as const;

describe('createMetrics', () => {
  it('renders HELP and TYPE lines and the values of the snapshot taken at scrape time', async () => {
    let snapshot: MetricSample[] = [
      { name: 'bytes_sent_total', value: 4096 },
      { name: 'pages_sent_total', labels: { encoding: 'raw' }, value: 1 },
      { name: 'pages_sent_total', labels: { encoding: 'lz4' }, value: 7 },
      { name: 'round', value: 3 },
      { name: 'migration_duration_seconds', value: 1.25 },
    ];
    let scrapes = 0;
    const metrics = createMetrics('livemig_source', DESCRIBE, () => (scrapes++, snapshot));
    expect(metrics.registry).toBeInstanceOf(Registry);
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');

    const text = await metrics.render();
    expect(scrapes).toBe(1);
    expect(text).toContain('# HELP livemig_source_bytes_sent_total Bytes sent to the destination.\n# TYPE livemig_source_bytes_sent_total counter\nlivemig_source_bytes_sent_total 4096\n');
    expect(text).toContain('livemig_source_pages_sent_total{encoding="raw"} 1\n');
    expect(text).toContain('livemig_source_pages_sent_total{encoding="lz4"} 7\n');
    expect(text).toContain('# TYPE livemig_source_round gauge\nlivemig_source_round 3\n');
    expect(text).toContain('livemig_source_migration_duration_seconds 1.25\n');

    // The next scrape shows the next snapshot only: counters take the engine's totals, old label sets go.
    snapshot = [
      { name: 'bytes_sent_total', value: 8192 },
      { name: 'pages_sent_total', labels: { encoding: 'zero' }, value: 2 },
    ];
    const next = await metrics.render();
    expect(next).toContain('livemig_source_bytes_sent_total 8192\n');
    expect(next).toContain('livemig_source_pages_sent_total{encoding="zero"} 2\n');
    expect(next).not.toContain('encoding="lz4"');
    expect(next).toContain('livemig_source_round 0\n');
  });

  it('keeps metrics in its own registry, with default labels and an async collector', async () => {
    const a = createMetrics('livemig_source', DESCRIBE, async () => [{ name: 'round', value: 1 }], { defaultLabels: { agent: 'source' } });
    const b = createMetrics('livemig_source', DESCRIBE, () => [{ name: 'round', value: 2 }]);
    expect(await a.render()).toContain('livemig_source_round{agent="source"} 1\n');
    expect(await b.render()).toContain('livemig_source_round 2\n');
  });

  it('adds process metrics when asked', async () => {
    const metrics = createMetrics('livemig_dest', [], () => [], { processMetrics: true });
    const text = await metrics.render();
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(text).toContain('nodejs_heap_size_used_bytes');
  });

  it('rejects bad descriptions and snapshots', async () => {
    expect(() => createMetrics('livemig', [{ name: 'bytes_sent', help: 'x', type: 'counter' }], () => [])).toThrow(/_total/);
    expect(() => createMetrics('live-mig', [], () => [])).toThrow(/prefix/);
    expect(() => createMetrics('livemig', [DESCRIBE[2], DESCRIBE[2]], () => [])).toThrow(/twice/);
    const unknown = createMetrics('livemig', DESCRIBE, () => [{ name: 'nope', value: 1 }]);
    await expect(unknown.render()).rejects.toThrow(/undescribed metric "nope"/);
    const decreasing = createMetrics('livemig', DESCRIBE, () => [{ name: 'bytes_sent_total', value: -1 }]);
    await expect(decreasing.render()).rejects.toThrow();
  });

  it('serves GET /metrics through metricsHandler', async () => {
    const metrics = createMetrics('livemig_source', DESCRIBE, () => [{ name: 'round', value: 9 }]);
    const server = new ControlServer([{ method: 'GET', path: '/metrics', handler: metricsHandler(metrics) }]);
    const { host, port } = await server.listen(0);
    try {
      const res = await fetch(`http://${host}:${port}/metrics`);
      expect(res.headers.get('content-type')).toBe(metrics.contentType);
      expect(await res.text()).toContain('livemig_source_round 9\n');
      expect(await new ControlClient(`${host}:${port}`).getText('/metrics')).toContain('# HELP livemig_source_round');
    } finally {
      await server.close();
    }
  });
});
