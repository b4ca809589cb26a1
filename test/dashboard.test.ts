import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderReportHtml } from '@livemig/report-html';
import { describe, expect, it } from 'vitest';
import { runSource, startDest, tempDir, waitForLine } from './support/agents.js';
import { ARTIFACT_DIR, browserForTests, drawnCharts, shownFigures } from './support/browser.js';
import { waitForValue } from './support/wait.js';

// The live dashboard (GET / on the control API) in headless Chromium, following a slow migration that cannot
// converge (pages dirtied faster than 1 MB/s drains them) until it is cancelled: it updates as events come,
// its progress bar never moves back, and it and the cancelled migration's saved report render without errors.
const GUEST = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '5', '--dirty-rate', '128MiB'];

describe('live dashboard', () => {
  const dir = tempDir();
  const opened = browserForTests(() => dir.remove());
  const agents = opened.agents;

  it('follows a running migration, never moves its progress back, and shows the cancel', async () => {
    const dest = await startDest(['--control-port', '0']);
    agents.push(dest);
    const destUrl = (await waitForLine(dest, /^control (http:\/\/\S+)$/))[1]!;
    const source = runSource([...GUEST, '--control-port', '0']);
    agents.push(source);
    const url = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
    const browser = opened.browser;
    const { page } = browser;

    const response = await page.goto(`${url}/`);
    expect(response!.headers()['content-type']).toBe('text/html; charset=utf-8');
    await page.waitForFunction(() => (window as any).livemigPage?.ready === true);
    // Every value the progress bar takes, recorded by the page itself.
    await page.evaluate(() => {
      const bar = document.getElementById('progress')!;
      (window as any).progressSeen = [];
      new MutationObserver(() => (window as any).progressSeen.push(Number(bar.dataset.percent))).observe(bar, { attributes: true, attributeFilter: ['data-percent'] });
    });

    const started = await fetch(`${url}/migrations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: dest.address, maxBandwidthBytesPerSec: 1_000_000, maxRounds: 1000 }),
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };

    // Two rounds drawn and dozens of progress events taken in: the page follows the migration as it runs.
    await page.waitForFunction(() => {
      const state = (window as any).livemigPage;
      return state.events > 30 && document.querySelectorAll('#section-rounds tbody tr').length >= 2;
    }, null, { timeout: 120_000 });
    const running = await page.evaluate(() => ({ ...(window as any).livemigPage, phase: document.getElementById('phase')!.textContent }));
    expect(running.id).toBe(id);
    expect(running.phase).toBe('pre-copy');
    expect(running.progress).toBeGreaterThan(0);
    const charts = await drawnCharts(page);
    for (const section of ['phases', 'rounds', 'bandwidth', 'progress', 'expected-downtime']) {
      expect(charts[section]?.inkedPixels, section).toBeGreaterThan(1000);
    }
    const samplesBefore = charts.bandwidth!.datasets[0]!.data.length;
    await page.waitForFunction((n) => {
      const canvas = document.querySelector('canvas[data-section="bandwidth"]') as HTMLCanvasElement;
      return (window as any).Chart.getChart(canvas).data.datasets[0].data.length > n + 5;
    }, samplesBefore);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'dashboard-live.png'), fullPage: true });

    // The destination's dashboard lists the migration coming in.
    const destPage = await browser.context.newPage();
    destPage.on('pageerror', (error) => browser.errors.push(error.message));
    await destPage.goto(`${destUrl}/`);
    await destPage.waitForFunction(() => (window as any).livemigPage?.ready === true);
    const incomingRow = async (): Promise<string[]> => destPage.$$eval('#incoming-list tbody td', (cells) => cells.map((cell) => cell.textContent ?? ''));
    expect((await incomingRow())[1]).toBe('receiving');
    await destPage.screenshot({ path: join(ARTIFACT_DIR, 'dashboard-destination.png'), fullPage: true });

    expect((await fetch(`${url}/migrations/${id}`, { method: 'DELETE' })).status).toBe(202);
    await page.waitForFunction(() => document.getElementById('phase')!.textContent === 'cancelled');
    const figures = await shownFigures(page);
    expect(figures.status!.text).toBe('cancelled');
    expect(figures.error!.text).toContain('LM_ERR_CANCELLED');
    await page.screenshot({ path: join(ARTIFACT_DIR, 'dashboard-cancelled.png'), fullPage: true });
    // The destination heard the Abort: its dashboard follows from its own events.
    await destPage.waitForFunction(() => document.querySelector('#incoming-list tbody td:nth-child(2)')?.textContent === 'failed');
    await destPage.close();

    const seen = (await page.evaluate(() => (window as any).progressSeen)) as number[];
    expect(seen.length).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(browser.errors).toEqual([]);
    // Each dashboard talks to its own agent only.
    expect(browser.requests.filter((request) => !request.startsWith(`${url}/`) && !request.startsWith(`${destUrl}/`))).toEqual([]);

    // The cancelled migration's report, saved and rendered: the page draws what it has without errors.
    const view = await waitForValue(
      async () => (await (await fetch(`${url}/migrations/${id}`)).json()) as { report: Record<string, unknown> | null },
      (body) => body.report !== null,
      { intervalMs: 100, what: 'the cancelled migration report' },
    );
    expect(view.report!.status).toBe('cancelled');
    writeFileSync(dir.file('cancelled.html'), renderReportHtml(view.report!));
    browser.requests.length = 0;
    await page.goto(pathToFileURL(dir.file('cancelled.html')).href);
    await page.waitForFunction(() => (window as any).livemigPage?.ready === true);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'report-cancelled.png'), fullPage: true });
    expect(browser.errors).toEqual([]);
    expect(browser.requests).toEqual([pathToFileURL(dir.file('cancelled.html')).href]);
    expect((await shownFigures(page)).status!.text).toBe('cancelled');
    expect(Object.keys(await drawnCharts(page))).toContain('rounds');
  });
});
