import type { MigrationStats } from './outgoing/live-stats.js';
import { formatBytes } from '@livemig/agent-runtime';

const WIDTH = 24;

/**
 * The `source-agent migrate` progress line: bar, rate, remaining, round, expected downtime. The bar never
 * runs backwards: pages dirtied meanwhile grow the remaining work, but the shown fraction only goes up
 * (the engine's progressPercent is monotonic, and this keeps the highest value it has drawn as well).
 */
export class ProgressBar {
  private shown = 0;
  private lastLine = '';

  constructor(private readonly out: NodeJS.WriteStream | NodeJS.WritableStream & { isTTY?: boolean }) {}

  update(stats: MigrationStats): void {
    this.shown = Math.max(this.shown, stats.progressPercent);
    const filled = Math.round((this.shown / 100) * WIDTH);
    const expected =
      stats.expectedDowntimeMs === null || !Number.isFinite(stats.expectedDowntimeMs) ? '-' : `${Math.round(stats.expectedDowntimeMs)} ms`;
    const line =
      `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${this.shown.toFixed(1).padStart(5)}%  ${stats.phase}` +
      `  round ${stats.round}  ${formatBytes(stats.bandwidthBytesPerSec)}/s  remaining ${formatBytes(stats.remainingBytes)}` +
      `  expected downtime ${expected}${stats.throttlePercent > 0 ? `  throttle ${stats.throttlePercent}%` : ''}`;
    if (line === this.lastLine) return;
    this.lastLine = line;
    // On a terminal the line redraws in place; in a log, one line per change of phase or round.
    if ((this.out as { isTTY?: boolean }).isTTY) this.out.write(`\r\x1b[2K${line}`);
    else if (this.phaseOrRoundChanged(stats)) this.out.write(`${line}\n`);
  }

  /** Ends the bar with a newline on a terminal. */
  finish(): void {
    if ((this.out as { isTTY?: boolean }).isTTY && this.lastLine) this.out.write('\n');
  }

  private lastKey = '';
  private phaseOrRoundChanged(stats: MigrationStats): boolean {
    const key = `${stats.phase}/${stats.round}`;
    if (key === this.lastKey) return false;
    this.lastKey = key;
    return true;
  }

  /** The highest percentage drawn so far. */
  get percent(): number {
    return this.shown;
  }
}
