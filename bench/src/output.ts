import { cpus, loadavg, totalmem } from 'node:os';
import { formatBytes } from '@livemig/agent-runtime';

export interface Machine {
  cpus: number;
  model: string;
  node: string;
  totalmem: number;
  /** 1, 5 and 15 minute load averages when the benchmark ended: how loaded the shared machine was. */
  loadAverage: number[];
}

export function machine(): Machine {
  const list = cpus();
  return { cpus: list.length, model: list[0]?.model.trim() ?? 'unknown', node: process.version, totalmem: totalmem(), loadAverage: loadavg() };
}

/** What every benchmark prints with --json: one object on stdout. */
export interface BenchOutput<P, R> {
  bench: string;
  machine: Machine;
  params: P;
  results: R[];
  notes: string[];
}

/** Progress and notes go to stderr so that stdout carries only the table or the JSON object. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A plain text table: first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function fixed(value: number | null, digits: number): string {
  return value === null ? '-' : value.toFixed(digits);
}

/** A size in binary units ("1.0 GiB"), or '-' for a figure a run did not report. */
export function bytesOrDash(value: number | null): string {
  return value === null ? '-' : formatBytes(value);
}
