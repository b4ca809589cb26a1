import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runSource, startAgent, startDest, tempDir, ROOT, SOURCE_BIN } from './support/agents.js';
import { ARTIFACT_DIR, drawnCharts, openBrowser, shownFigures } from './support/browser.js';

// The HTML report of real migrations (real agents over loopback), opened in headless Chromium: every chart
// drawn with the report's numbers, no network request, and the reports of no migration, a failed one and a
// bad file. The screenshots land in test-artifacts/ (git-ignored).
// A guest that dirties pages while a 4 MB/s link drains them, under Xen's policy: it never gets under 50 dirty
// pages, so it switches after five pre-copy rounds, a second or more in all.
const GUEST = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '3', '--dirty-rate', '64MiB'];
const SLOW = ['--max-bandwidth', '4MB/s', '--policy', 'xen', '--migrate-after', '500ms'];

type Browser = Awaited<ReturnType<typeof openBrowser>>;

async function openReport(browser: Browser, file: string, screenshot: string): Promise<void> {
  browser.requests.length = 0;
  await browser.page.goto(pathToFileURL(file).href);
  await browser.page.waitForFunction(() => (window as any).livemigPage?.ready === true);
  await browser.page.screenshot({ path: join(ARTIFACT_DIR, screenshot), fullPage: true });
}

describe('HTML report', () => {
  const dir = tempDir();
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(ARTIFACT_DIR, { recursive: true });
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    dir.remove();
  });

  it('draws a real migration: every chart with the report numbers, and no request beyond the file', async () => {
    const dest = await startDest(['--once', '--run-for', '300ms', '--report', dir.file('dest.json'), '--report-html', dir.file('dest.html')]);
    const source = runSource([...GUEST, ...SLOW, '--migrate-to', dest.address, '--report', dir.file('source.json'), '--report-html', dir.file('source.html')]);
    const finished = await source.done;
    expect(finished.code, finished.stderr).toBe(0);
    expect((await dest.done).code).toBe(0);
    const report = readJson(dir.file('source.json'));
    expect(report.status).toBe('completed');
    expect(report.rounds.length).toBeGreaterThan(2);
    expect(report.series.intervalMs).toBe(100);
    expect(report.series.samples.length).toBeGreaterThan(1);
    expect(report.phases.map((mark: { phase: string }) => mark.phase)).toEqual(['handshake', 'reservation', 'pre-copy', 'stop-and-copy', 'commit', 'activation', 'completed']);

    await openReport(browser, dir.file('source.html'), 'report-completed.png');
    expect(browser.errors).toEqual([]);
    expect(browser.requests).toEqual([pathToFileURL(dir.file('source.html')).href]);

    const charts = await drawnCharts(browser.page);
    expect(Object.keys(charts).sort()).toEqual(['bandwidth', 'downtime-split', 'encodings', 'expected-downtime', 'phases', 'progress', 'rounds'].sort());
    for (const chart of Object.values(charts)) expect(chart.inkedPixels, chart.section).toBeGreaterThan(1000);

    const rounds = report.rounds as { round: number; pagesSent: number; pagesResent: number; pagesDirtiedMeanwhile: number; final: boolean }[];
    expect(charts.rounds!.datasets.map((dataset) => dataset.data)).toEqual([rounds.map((r) => r.pagesSent), rounds.map((r) => r.pagesResent), rounds.map((r) => r.pagesDirtiedMeanwhile)]);
    const names = charts.encodings!.labels as string[];
    expect(names).toEqual(Object.keys(report.pagesSent));
    expect(charts.encodings!.datasets[0]!.data).toEqual(names.map((name) => report.pagesSent[name]));
    // One bar per phase the migration went through; the final one (completed) is a moment.
    expect(charts.phases!.datasets.map((dataset) => dataset.label.split(' ')[0])).toEqual(['handshake', 'reservation', 'pre-copy', 'stop-and-copy', 'commit', 'activation']);
    expect(charts.bandwidth!.datasets[0]!.data).toHaveLength(report.series.samples.length);
    const parts = charts['downtime-split']!.datasets.map((dataset) => (dataset.data as number[])[0]!);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe(report.sourceDowntimeMs);
    expect(Math.abs(parts.reduce((sum, ms) => sum + ms, 0) - report.downtimeMs)).toBeLessThan(0.2);
    const actual = charts['expected-downtime']!.datasets.find((dataset) => dataset.label.startsWith('actual'))!;
    expect((actual.data as { y: number }[])[0]!.y).toBe(report.downtimeMs);

    const figures = await shownFigures(browser.page);
    for (const field of ['totalTimeMs', 'downtimeMs', 'setupTimeMs', 'bytesOnWire', 'memoryBytes', 'imageBytes', 'streams']) {
      expect(Number(figures[field]!.value), field).toBe(report[field]);
    }
    for (const field of ['totalTimeMs', 'downtimeMs', 'setupTimeMs']) expect(figures[field]!.text).toBe(`${report[field].toFixed(1)} ms`);
    expect(Number(figures['rounds.length']!.value)).toBe(rounds.length);
    expect(figures.status!.text).toBe('completed');
    expect(figures.switchoverReason!.text).toBe(report.switchoverReason);
    for (const name of names) expect(Number(figures[`pagesSent.${name}`]!.value)).toBe(report.pagesSent[name]);
    const table = await browser.page.$$eval('#section-rounds tbody tr', (rows) => rows.map((row) => row.children[1]!.textContent));
    expect(table).toEqual(rounds.map((r) => r.pagesSent.toLocaleString('en-US')));

    // The destination's page: its own figures.
    const destReport = readJson(dir.file('dest.json'));
    await openReport(browser, dir.file('dest.html'), 'report-destination.png');
    expect(browser.errors).toEqual([]);
    const destFigures = await shownFigures(browser.page);
    expect(Number(destFigures.pagesReceived!.value)).toBe(destReport.pagesReceived);
    expect(Number(destFigures.rounds!.value)).toBe(destReport.rounds);

    // A saved report rendered afterwards is the same page.
    const rendered = await startAgent(SOURCE_BIN, ['report', dir.file('source.json'), '-o', dir.file('rendered.html')]).done;
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toBe(`report ${dir.file('rendered.html')}\n`);
    await openReport(browser, dir.file('rendered.html'), 'report-rendered.png');
    expect(browser.errors).toEqual([]);
    expect(Object.keys(await drawnCharts(browser.page))).toHaveLength(7);
  });

  it('renders a report with no rounds (no migration) and a failed migration without errors', async () => {
    const idle = await runSource(['--memory', '16MiB', '--run-for', '200ms', '--report', dir.file('idle.json'), '--report-html', dir.file('idle.html')]).done;
    expect(idle.code, idle.stderr).toBe(0);
    await openReport(browser, dir.file('idle.html'), 'report-not-migrated.png');
    expect(browser.errors).toEqual([]);
    expect((await shownFigures(browser.page)).status!.text).toBe('not-migrated');
    expect(Object.keys(await drawnCharts(browser.page))).toEqual([]);

    // Nothing listens on the destination's port: the handshake fails, the guest stays here.
    const dest = await startDest(['--once']);
    dest.child.kill('SIGKILL');
    await dest.done;
    const failed = await runSource([...GUEST, '--run-for', '1s', '--migrate-to', dest.address, '--migrate-after', '0', '--report', dir.file('failed.json'), '--report-html', dir.file('failed.html')]).done;
    expect(failed.code).toBe(1);
    const report = readJson(dir.file('failed.json'));
    expect(report.status).toBe('failed');
    await openReport(browser, dir.file('failed.html'), 'report-failed.png');
    expect(browser.errors).toEqual([]);
    const figures = await shownFigures(browser.page);
    expect(figures.status!.text).toBe('failed');
    expect(figures.error!.text).toContain(report.error.code);
  });

  it('draws the sections of fields a later mode adds (post-copy faults and latency, a new page count) when a report has them', async () => {
    // The real report of the first test, with the fields post-copy and soft-page skipping would add.
    const report = readJson(dir.file('source.json'));
    report.postcopy = { prepaging: 'bubble', missingAtSwitch: 5000, pagesRequested: 1234, pagesAnswered: 1200, pagesPushed: 3800, pagesSentTwice: 0, latencyBuckets: [0, 0, 0, 5, 40, 300, 700, 150, 30, 9, 0, 0] };
    report.series.samples = report.series.samples.map((sample: Record<string, number>, i: number) => ({ ...sample, postCopyFaults: i * 10, softPagesSkipped: i * 3 }));
    report.pagesSent.skippedSoft = 4321;
    writeFileSync(dir.file('later.json'), JSON.stringify(report));
    const rendered = await startAgent(SOURCE_BIN, ['report', dir.file('later.json'), '-o', dir.file('later.html')]).done;
    expect(rendered.code, rendered.stderr).toBe(0);
    await openReport(browser, dir.file('later.html'), 'report-later-fields.png');
    expect(browser.errors).toEqual([]);
    const charts = await drawnCharts(browser.page);
    for (const section of ['post-copy-latency', 'post-copy-faults', 'other-series']) expect(charts[section]?.inkedPixels, section).toBeGreaterThan(1000);
    expect(charts['post-copy-latency']!.datasets[0]!.data).toEqual(report.postcopy.latencyBuckets.slice(0, 10));
    expect(charts['other-series']!.datasets.map((dataset) => dataset.label)).toEqual(['softPagesSkipped']);
    expect(charts.encodings!.labels).toContain('skippedSoft');
    expect(Number((await shownFigures(browser.page))['postcopy.pagesRequested']!.value)).toBe(1234);

    // A destination that sent its guest onward (A -> B -> C) carries that migration's source report: drawn below its own.
    const hop = { ...readJson(dir.file('dest.json')), ended: 'migrated', onward: readJson(dir.file('source.json')) };
    writeFileSync(dir.file('hop.json'), JSON.stringify(hop));
    expect((await startAgent(SOURCE_BIN, ['report', dir.file('hop.json'), '-o', dir.file('hop.html')]).done).code).toBe(0);
    await openReport(browser, dir.file('hop.html'), 'report-destination-onward.png');
    expect(browser.errors).toEqual([]);
    expect(await browser.page.$$eval('.onward section', (sections) => sections.map((section) => section.id))).toContain('section-rounds');
    expect(Object.keys(await drawnCharts(browser.page))).toContain('rounds');
  });

  it('refuses a file that is not a report with a one-line cause and exit status 2, as a wrong flag', async () => {
    const missing = await startAgent(SOURCE_BIN, ['report', dir.file('missing.json'), '-o', dir.file('x.html')]).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`source-agent: cannot read report ${dir.file('missing.json')}: ENOENT: no such file or directory, open '${dir.file('missing.json')}'\n`);
    const notReport = await startAgent(SOURCE_BIN, ['report', join(ROOT, 'package.json'), '-o', dir.file('x.html')]).done;
    expect(notReport.code).toBe(2);
    expect(notReport.stderr).toContain('is not a migration report');
  });
});
