import { PAGE_SIZE } from '@livemig/protocol';
import { BandwidthMeter } from '../bandwidth-meter.js';
import { ENCODING_NAMES, type MigrationReport, type PagesByEncoding } from '../report.js';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import type { MigrationParameters } from './parameters.js';
import { isFinalPhase, type MigrationPhase } from './phases.js';

/** How often live statistics are sampled and `progress` is emitted (the control API's `progress` events). */
export const STATS_SAMPLE_INTERVAL_MS = 100;

/** A live snapshot, like QEMU's query-migrate. Byte counts are cumulative; rates are over a short window. */
export interface MigrationStats {
  id: string;
  guestId: string;
  target: string;
  phase: MigrationPhase;
  /** Pre-copy rounds begun so far (QEMU's dirty-sync count); the stop-and-copy round counts too. */
  round: number;
  /** Bytes written to the destination, control and data connections. */
  transferredBytes: number;
  /** Guest-memory bytes still to send: the rest of this round plus pages dirtied since it was harvested. */
  remainingBytes: number;
  /** Guest memory size. */
  totalBytes: number;
  /** Guest-memory bytes covered by the pages sent so far (resent pages count again). */
  pagesTransferredBytes: number;
  pagesTransferred: number;
  /** Pages sent by encoding, as of the last finished round. */
  pagesByEncoding: PagesByEncoding;
  /** Pages the vCPUs dirtied per second during the last round. */
  dirtyPagesRate: number;
  /** Wire bytes per second over the last window. */
  bandwidthBytesPerSec: number;
  /** Guest pages per second over the last window. */
  pagesPerSecond: number;
  /** Downtime if the guest were stopped now, as the last pre-copy round estimated it (null until measured). */
  expectedDowntimeMs: number | null;
  /** 0..100; never goes down while the migration runs, 100 once completed. */
  progressPercent: number;
  throttlePercent: number;
  setupTimeMs: number | null;
  elapsedMs: number;
  /** At the end: vCPU park at the source to vCPU start at the destination. */
  downtimeMs: number | null;
  /** At the end: vCPU park to the last byte of the stop-and-copy handed to the sockets (what QEMU reports). */
  sourceDowntimeMs: number | null;
  switchoverReason: string | null;
  parameters: MigrationParameters;
  error: { code: string; message: string } | null;
}

/**
 * The live statistics of one migration: the counters its phases keep in the context, read through two
 * short-window meters (wire bytes, and guest-memory bytes moved) and a progress figure that never goes back.
 */
export class LiveStats {
  /** Wire bytes, control and data connections: the bandwidth the statistics and the round reports show. */
  readonly wire = new BandwidthMeter();
  /** Guest-memory bytes moved (pages sent x 4096): the bandwidth the expected downtime divides by. */
  readonly pages = new BandwidthMeter();
  private progressFloor = 0;

  constructor(private readonly ctx: MigrationContext) {}

  /** Bytes written to the destination so far, control and data connections. */
  get bytesOnWire(): number {
    return (this.ctx.connection?.bytesSent ?? 0) + (this.ctx.channels?.bytesSent ?? 0);
  }

  /** Pages sent so far, the round in flight included (as of the channels' last progress reports). */
  get pagesTransferred(): number {
    return this.ctx.pagesBeforeRound + (this.ctx.channels?.roundPagesSent ?? 0);
  }

  /** Feeds both meters with the counts as they are now. */
  sample(): void {
    const now = performance.now();
    this.wire.sample(now, this.bytesOnWire);
    this.pages.sample(now, this.pagesTransferred * PAGE_SIZE);
  }

  /** Pages and entry bytes by encoding: the channels' counts once they exist, else the report's zeros. */
  encodingCounts(): { pages: MigrationReport['pagesSent']; bytes: MigrationReport['bytesByEncoding'] } {
    const { report, channels } = this.ctx;
    const pages = { ...report.pagesSent };
    const bytes = { ...report.bytesByEncoding };
    if (channels) {
      const stats = channels.stats();
      for (const name of ENCODING_NAMES) {
        pages[name] = stats.pages[name] ?? 0;
        bytes[name] = stats.bytes[name] ?? 0;
      }
    }
    return { pages, bytes };
  }

  snapshot(): MigrationStats {
    const { ctx } = this;
    const { report, phase } = ctx;
    const final = isFinalPhase(phase);
    const pagesTransferred = this.pagesTransferred;
    let remainingPages = 0;
    if (!final && ctx.round > 0) {
      remainingPages = Math.max(0, ctx.roundPages - (ctx.channels?.roundPagesSent ?? 0)) + ctx.guest.memory.dirtyCount();
    }
    const lastPreCopy = report.rounds.findLast((round) => !round.final);
    const pageRate = this.pages.rate();
    // Monotonic: pages dirtied meanwhile grow the work left, but the bar never moves back.
    if (phase === 'completed') this.progressFloor = 100;
    else if (ctx.round > 0) {
      const estimate = (100 * pagesTransferred) / Math.max(1, pagesTransferred + remainingPages);
      this.progressFloor = Math.max(this.progressFloor, Math.min(99.9, estimate));
    }
    return {
      id: ctx.id,
      guestId: report.guestId,
      target: report.target,
      phase,
      round: ctx.round,
      transferredBytes: this.bytesOnWire,
      remainingBytes: remainingPages * PAGE_SIZE,
      totalBytes: report.memoryBytes,
      pagesTransferredBytes: pagesTransferred * PAGE_SIZE,
      pagesTransferred,
      pagesByEncoding: this.encodingCounts().pages,
      dirtyPagesRate: lastPreCopy && lastPreCopy.ms > 0 ? Math.round((lastPreCopy.pagesDirtiedMeanwhile * 1000) / lastPreCopy.ms) : 0,
      bandwidthBytesPerSec: Math.round(this.wire.rate() * 1000),
      pagesPerSecond: Math.round((pageRate * 1000) / PAGE_SIZE),
      expectedDowntimeMs: final ? null : (lastPreCopy?.expectedDowntimeMs ?? null),
      progressPercent: roundTenth(this.progressFloor),
      throttlePercent: ctx.autoConverge.throttlePercent,
      setupTimeMs: report.setupTimeMs || null,
      elapsedMs: final ? report.totalTimeMs : roundTenth(performance.now() - ctx.started),
      downtimeMs: report.downtimeMs,
      sourceDowntimeMs: report.sourceDowntimeMs,
      switchoverReason: report.switchoverReason,
      parameters: ctx.parameters(),
      error: report.error ?? null,
    };
  }
}
