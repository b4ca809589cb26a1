import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The page's scripts, in the order they run: format and section helpers first, then one file per section
 * (each registers itself), then the view that draws them. A new section is a new file in browser/sections/
 * named here.
 */
const BROWSER_SCRIPTS = [
  'format.js',
  'sections.js',
  'sections/summary.js',
  'sections/switchover.js',
  'sections/phases.js',
  'sections/rounds.js',
  'sections/bandwidth.js',
  'sections/downtime.js',
  'sections/encodings.js',
  'sections/post-copy.js',
  'sections/other-series.js',
  'view.js',
  'figures.js',
] as const;

const browserDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'browser');

let cached: { chartJs: string; scripts: string; liveScript: string; css: string } | undefined;

/** Chart.js's UMD build from node_modules, the page's scripts and its style sheet, read once per process. */
export function pageAssets(): { chartJs: string; scripts: string; liveScript: string; css: string } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // The package's main entry is dist/chart.cjs; the browser build sits beside it.
  const chartJs = readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  const read = (name: string): string => readFileSync(join(browserDir, name), 'utf8');
  cached = {
    chartJs,
    scripts: BROWSER_SCRIPTS.map((name) => `// ${name}\n${read(name)}`).join('\n'),
    liveScript: read('live.js'),
    css: read('report.css'),
  };
  return cached;
}
