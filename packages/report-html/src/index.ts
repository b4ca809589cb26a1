import { writeFile } from 'node:fs/promises';
import { renderPage } from './page.js';

export { jsonForScript, escapeHtml } from './page.js';

/**
 * A report as the page reads it: a source agent's migration report (`rounds` is a list) or a destination's
 * incoming report (`rounds` is a count, `onward` the source report of an onward migration). The page draws
 * the sections whose fields are present, so a report from a later version with more fields still renders.
 */
export type ReportInput = Record<string, unknown>;

/** One self-contained HTML page (no network needed) drawing a migration report: summary and charts. */
export function renderReportHtml(report: ReportInput, options: { title?: string } = {}): string {
  return renderPage({ title: options.title ?? reportTitle(report), data: report, mode: 'report' });
}

/** Writes renderReportHtml's page to `file`. */
export async function writeReportHtml(file: string, report: ReportInput, options: { title?: string } = {}): Promise<void> {
  await writeFile(file, renderReportHtml(report, options));
}

/**
 * The control API's live dashboard (`GET /`): the same sections, drawn from the agent's /migrations and kept
 * up to date from /events while a migration runs. `sampledFields` are the live statistics a report's series
 * keeps: the dashboard samples the same ones from the `progress` events.
 */
export function renderDashboardHtml(agent: string, sampledFields: readonly string[]): string {
  return renderPage({ title: `livemig ${agent} agent`, data: { agent, sampledFields }, mode: 'live' });
}

function reportTitle(report: ReportInput): string {
  const status = typeof report.status === 'string' ? report.status : 'report';
  const target = typeof report.target === 'string' && report.target ? ` to ${report.target}` : typeof report.source === 'string' ? ` from ${report.source}` : '';
  return `livemig migration${target}: ${status}`;
}

/** A standalone figure: a Chart.js configuration (type, data, options) with a title. */
export interface Figure {
  /** Names the figure's element (`figure-ID`) and its file when written as an image. */
  id: string;
  title: string;
  note?: string;
  /** Height of the chart in CSS pixels (default 320). */
  height?: number;
  config: { type: string; data: unknown; options?: Record<string, unknown> };
}

/** One self-contained page of figures, each drawn with the same Chart.js and styles as a report (bench --charts). */
export function renderFiguresHtml(title: string, figures: readonly Figure[]): string {
  return renderPage({ title, data: figures, mode: 'figures' });
}
