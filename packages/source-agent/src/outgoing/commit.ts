import { DigestMismatchError, FrameType } from '@livemig/protocol';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { recordRound } from './rounds.js';

/**
 * Phase 5, commit: Complete is out. Announces the phase and reports the final round (both wait until
 * Complete is written, so that neither counts in the source's downtime), then waits for Committed and checks
 * that the destination committed the image digest this side computed. Nothing here is cancellable: the
 * destination may have committed already.
 * @throws UnexpectedFrameError, DigestMismatchError; the connection's errors (the guest is still this side's)
 */
export async function commit(ctx: MigrationContext): Promise<'activation'> {
  const { report } = ctx;
  ctx.enter('commit');
  const { pages, sent } = ctx.finalRound;
  recordRound(
    ctx,
    { final: true, pagesSent: pages.length, pagesResent: ctx.history.record(pages), sent, pagesDirtiedMeanwhile: 0, expectedDowntimeMs: 0, switchoverCostMs: 0 },
    'stop-and-copy sent, waiting for the destination to commit',
  );
  const verdict = await ctx.control.receive(ctx.answerTimeoutMs, 'Committed');
  expectFrame(verdict, FrameType.Committed, 'commit');
  if (verdict.message.digest !== report.sourceDigest) {
    throw new DigestMismatchError(`destination committed digest ${verdict.message.digest}, expected ${report.sourceDigest}`);
  }
  ctx.committed = true;
  report.timeToCommitMs = roundTenth(performance.now() - ctx.started);
  return 'activation';
}
