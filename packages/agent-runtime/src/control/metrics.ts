import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RouteHandler } from './http-server.js';

export interface MetricDescription {
  /** Name after the prefix, e.g. `bytes_sent_total` with prefix `livemig_source`. Counters must end in `_total`. */
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labelNames?: readonly string[];
}

export interface MetricSample {
  /** Same name as in the description (without the prefix). */
  name: string;
  labels?: Record<string, string | number>;
  value: number;
}

export type MetricsCollector = () => readonly MetricSample[] | Promise<readonly MetricSample[]>;

export interface CreateMetricsOptions {
  /**
   * Adds prom-client's process metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, event loop
   * lag, GC durations; standard names, not prefixed). Off by default: they start an event-loop monitor and a GC
   * observer that live as long as the process, so turn them on once per agent process.
   */
  processMetrics?: boolean;
  /** Labels added to every metric, e.g. `{ agent: 'source' }`. */
  defaultLabels?: Record<string, string>;
}

export interface ControlMetrics {
  /** The agent's own registry (never prom-client's global one); more metrics may be registered on it. */
  registry: Registry;
  /** Content type of `render()`'s text (Prometheus text format 0.0.4). */
  contentType: string;
  /** Takes one snapshot from the collector, sets every described metric from it, and returns the exposition. */
  render(): Promise<string>;
}

type Metric = Gauge<string> | Counter<string>;

/**
 * Metrics whose values all come from one snapshot taken at scrape time: the engine keeps its own totals, and a
 * scrape copies them in. A metric the snapshot omits reads 0 (unlabelled) or has no series (labelled).
 */
export function createMetrics(
  prefix: string,
  describe: readonly MetricDescription[],
  collect: MetricsCollector,
  options: CreateMetricsOptions = {},
): ControlMetrics {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new TypeError(`bad metric prefix "${prefix}"`);
  const registry = new Registry();
  if (options.defaultLabels !== undefined) registry.setDefaultLabels(options.defaultLabels);
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });

  const metrics = new Map<string, Metric>();
  for (const d of describe) {
    if (metrics.has(d.name)) throw new TypeError(`metric "${d.name}" described twice`);
    if (d.type === 'counter' && !d.name.endsWith('_total')) {
      throw new TypeError(`counter "${d.name}" must end in _total (Prometheus naming)`);
    }
    const config = { name: `${prefix}_${d.name}`, help: d.help, labelNames: [...(d.labelNames ?? [])], registers: [registry] };
    metrics.set(d.name, d.type === 'gauge' ? new Gauge(config) : new Counter(config));
  }

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      const samples = await collect();
      for (const metric of metrics.values()) metric.reset();
      for (const sample of samples) {
        const metric = metrics.get(sample.name);
        if (metric === undefined) throw new Error(`metrics snapshot names undescribed metric "${sample.name}"`);
        const labels = sample.labels ?? {};
        // Counters only go up, so a scrape sets one by resetting it and adding the snapshot's total.
        if (metric instanceof Counter) metric.inc(labels, sample.value);
        else metric.set(labels, sample.value);
      }
      return registry.metrics();
    },
  };
}

/** Route handler for `GET /metrics`. */
export function metricsHandler(metrics: ControlMetrics): RouteHandler {
  return async () => ({ status: 200, text: await metrics.render(), contentType: metrics.contentType });
}
