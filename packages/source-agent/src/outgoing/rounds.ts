import type { RoundReport } from '../report.js';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';

/** One round as the channels sent it: how long it took and the data-channel bytes it put on the wire. */
export interface SentRound {
  ms: number;
  bytes: number;
}

/** A round's figures for its report entry. */
export interface RoundFigures {
  final: boolean;
  pagesSent: number;
  pagesResent: number;
  sent: SentRound;
  pagesDirtiedMeanwhile: number;
  expectedDowntimeMs: number;
  switchoverCostMs: number;
  /** PageCost's ms per dirty page after this round (0 for the final round). */
  pageCostMs: number;
}

/**
 * Sends round `ctx.round` (`pages`, the last one if `final`) over the data channels and waits until every
 * channel has sent its share.
 * @throws CancelledError on cancel, the control connection's error once it failed, or a channel's failure
 */
export async function sendRound(ctx: MigrationContext, pages: Uint32Array, final = false, push = false): Promise<SentRound> {
  const channels = ctx.dataChannels;
  ctx.checkCancelled();
  // The control connection is silent during pre-copy; a cut or an Abort on it ends the migration here.
  const controlError = ctx.control.error;
  if (controlError) throw controlError;
  // With acknowledgements, a round begins only within the bound on the source's lead (round-acks.ts). The
  // phases wait for it before they harvest the round's pages; this is the backstop.
  if (ctx.roundAcks) await ctx.guard(ctx.roundAcks.begin(ctx.round));
  const start = performance.now();
  const bytesBefore = channels.bytesSent;
  ctx.roundPages = pages.length;
  // Marked before the send: a page may change under it from the moment a channel reads it.
  if (ctx.directPages && !final && !push) ctx.directSends?.record(pages);
  await ctx.guard(channels.sendRound(ctx.round, pages, final, push));
  ctx.pagesBeforeRound += pages.length;
  ctx.roundPages = 0;
  ctx.stats.sample();
  // Round 1 also waited for the data channels to open: it is timed from when they had (and it was posted).
  const from = ctx.round === 1 ? Math.max(start, channels.openedAt - performance.timeOrigin) : start;
  return { ms: performance.now() - from, bytes: channels.bytesSent - bytesBefore };
}

/** Adds the round just sent to the report, the log and the listeners (`onRound`, `round` event). */
export function recordRound(ctx: MigrationContext, round: RoundFigures, message: string): void {
  const entry: RoundReport = {
    round: ctx.round,
    final: round.final,
    pagesSent: round.pagesSent,
    pagesResent: round.pagesResent,
    bytesOnWire: round.sent.bytes,
    ms: roundTenth(round.sent.ms),
    pagesDirtiedMeanwhile: round.pagesDirtiedMeanwhile,
    expectedDowntimeMs: roundTenth(round.expectedDowntimeMs),
    switchoverCostMs: roundTenth(round.switchoverCostMs),
    busyMs: roundTenth(Math.max(0, ...ctx.dataChannels.lastRoundCosts.map((share) => share.busyMs))),
    pageCostUs: Math.round(round.pageCostMs * 10_000) / 10,
    sourcePageCostUs: round.final ? 0 : Math.round(ctx.pageCost.sourceMsPerPage * 10_000) / 10,
    destPageCostUs: round.final ? 0 : Math.round(ctx.pageCost.destinationMsPerPage * 10_000) / 10,
    bandwidthBytesPerSec: Math.round(ctx.stats.wire.rate() * 1000),
    throttlePercent: ctx.autoConverge.throttlePercent,
    endedAtMs: roundTenth(performance.now() - ctx.started),
    batches: ctx.dataChannels.lastRoundBatches,
  };
  ctx.report.rounds.push(entry);
  ctx.log.info(entry, message);
  ctx.options.onRound?.(entry);
  ctx.events.emit('round', entry);
}
