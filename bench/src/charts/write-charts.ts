import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderFiguresHtml, type Figure } from '@livemig/report-html';
import { chromium } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`); CHROMIUM_PATH overrides. */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Writes a benchmark's figures to `dir`: `BENCH.html` (all of them, self-contained) and `BENCH-ID.png` per
 * figure, drawn by the report's Chart.js in headless Chromium and cut out of the page. Returns the files.
 */
export async function writeCharts(dir: string, bench: string, figures: readonly Figure[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const page = join(dir, `${bench}.html`);
  writeFileSync(page, renderFiguresHtml(`livemig bench ${bench}`, figures));
  const profile = mkdtempSync(join(tmpdir(), 'livemig-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1000, height: 800 },
    deviceScaleFactor: 1,
  });
  const files = [page];
  try {
    const tab = context.pages()[0] ?? (await context.newPage());
    await tab.goto(pathToFileURL(page).href);
    await tab.waitForFunction("window.livemigPage && window.livemigPage.ready === true");
    for (const figure of figures) {
      const file = join(dir, `${bench}-${figure.id}.png`);
      await tab.locator(`#figure-${figure.id}`).screenshot({ path: file });
      files.push(file);
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return files;
}
