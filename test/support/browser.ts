import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it when missing). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a headless Chromium that reaches nothing on its own (no updates, no sync, no QUIC probes). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where the tests keep their screenshots (git-ignored). */
export const ARTIFACT_DIR = join(import.meta.dirname, '..', '..', 'test-artifacts');

/**
 * A headless Chromium with a fresh profile, and every request its pages make, recorded (a saved report must
 * make none). `close` ends the browser and removes the profile.
 */
export async function openBrowser(): Promise<{ context: BrowserContext; page: Page; requests: string[]; errors: string[]; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'livemig-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 900 },
  });
  const requests: string[] = [];
  const errors: string[] = [];
  context.on('request', (request: Request) => requests.push(request.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return {
    context,
    page,
    requests,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What a drawn chart holds and whether its canvas has ink, as the page's Chart.js instance says. */
export interface DrawnChart {
  section: string;
  type: string;
  labels: unknown[];
  datasets: { label: string; data: unknown[] }[];
  /** Canvas pixels that are not transparent: 0 means nothing was drawn. */
  inkedPixels: number;
}

/** Every chart on the page, by section id. */
export async function drawnCharts(page: Page): Promise<Record<string, DrawnChart>> {
  return page.evaluate(() => {
    const charts: Record<string, unknown> = {};
    for (const canvas of Array.from(document.querySelectorAll('canvas'))) {
      const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): any } }).Chart.getChart(canvas);
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) inked++;
      const section = canvas.dataset.section!;
      charts[section] = {
        section,
        type: chart.config.type,
        labels: chart.data.labels ?? [],
        datasets: chart.data.datasets.map((dataset: { label: string; data: unknown[] }) => ({ label: dataset.label, data: dataset.data })),
        inkedPixels: inked,
      };
    }
    return charts as Record<string, DrawnChart>;
  });
}

/** The figures the page shows (`data-field` -> raw `data-value` and the text shown). */
export async function shownFigures(page: Page): Promise<Record<string, { value: string; text: string }>> {
  return page.evaluate(() => {
    const figures: Record<string, { value: string; text: string }> = {};
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('[data-field]'))) {
      figures[el.dataset.field!] = { value: el.dataset.value ?? '', text: el.textContent ?? '' };
    }
    return figures;
  });
}

/**
 * For a describe block: a browser opened before its tests (and the artifact directory made), closed after them,
 * with the agents the tests push onto `agents` killed and `cleanup` run.
 */
export function browserForTests(cleanup: () => void = () => {}): { readonly browser: Awaited<ReturnType<typeof openBrowser>>; agents: { child: { kill(signal: NodeJS.Signals): unknown } }[] } {
  let browser: Awaited<ReturnType<typeof openBrowser>> | undefined;
  const agents: { child: { kill(signal: NodeJS.Signals): unknown } }[] = [];
  beforeAll(async () => {
    mkdirSync(ARTIFACT_DIR, { recursive: true });
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    for (const agent of agents) agent.child.kill('SIGKILL');
    cleanup();
  });
  return {
    get browser() {
      if (browser === undefined) throw new Error('the browser opens in beforeAll');
      return browser;
    },
    agents,
  };
}
