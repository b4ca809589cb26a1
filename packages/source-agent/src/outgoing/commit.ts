import { DigestMismatchError, FrameType, ProofMismatchError, encodeConfirm, type Frame } from '@livemig/protocol';
import { markStep } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { recordRound } from './rounds.js';
import { serveRepair } from './repair.js';

/**
 * Phase 5, commit: Complete is out. Announces the phase and reports the final round (both wait until
 * Complete is written, so that neither counts in the source's downtime), then waits for Committed and checks
 * that the destination committed the image digest this side computed and proved it rebuilt the image: its
 * proof must be the one this side computes over its own page table and Complete's nonce (PROTOCOL.md, "The
 * commit proof"), so an echo of Complete's digest is refused. Before it, the destination may ask for the repair
 * step (repair.ts). Nothing here is cancellable: the destination may
 * have committed already.
 * @throws UnexpectedFrameError, DigestMismatchError, ProofMismatchError (the destination never starts a guest
 *   it was not confirmed, so the guest is still this side's); the connection's errors
 */
export async function commit(ctx: MigrationContext): Promise<'activation' | 'outcome-query'> {
  const { report } = ctx;
  ctx.enter('commit');
  const { pages, sent } = ctx.finalRound;
  recordRound(
    ctx,
    { final: true, pagesSent: pages.length, pagesResent: ctx.history.record(pages), sent, pagesDirtiedMeanwhile: 0, expectedDowntimeMs: 0, switchoverCostMs: 0, pageCostMs: 0 },
    'stop-and-copy sent, waiting for the destination to commit',
  );
  // The destination may have acknowledged the final round before it read the CPU state: read past that.
  const receive = (): Promise<Frame> => (ctx.roundAcks ? ctx.roundAcks.receiveOther(ctx.answerTimeoutMs, 'Committed') : ctx.control.receive(ctx.answerTimeoutMs, 'Committed'));
  const answer = receive();
  // Taken while the destination verifies, so that it adds nothing to the downtime.
  const proof = ctx.checksums.proof(ctx.commitNonce, ctx.cpuState);
  markStep('S proof made');
  let verdict;
  try {
    verdict = await answer;
    markStep('S Committed read');
    // The repair step (direct-pages-v2): the destination asks for the table and pages, then answers again.
    while (verdict.type === FrameType.RepairRequest) {
      await serveRepair(ctx, verdict.message);
      verdict = await receive();
    }
    expectFrame(verdict, FrameType.Committed, 'commit');
  } catch (error) {
    // An Abort read after Complete: the destination will never run this id (rule 1), so the guest resumes here.
    if (ctx.control.peerAborted) throw error;
    // Anything else loses the answer: the destination may have committed. Never guessed (rule 4).
    ctx.outcomeCause = error;
    return 'outcome-query';
  }
  if (verdict.message.digest !== report.sourceDigest) {
    throw new DigestMismatchError(`destination committed digest ${verdict.message.digest}, expected ${report.sourceDigest}`);
  }
  if (verdict.message.proof !== proof) {
    throw new ProofMismatchError(`destination's commit proof ${verdict.message.proof} is not ${proof}, over this side's page table and nonce`);
  }
  // Let go: from here this side never resumes the guest (PROTOCOL.md, "Commit", rule 3); the destination
  // starts its vCPUs on this Confirm.
  ctx.committed = true;
  report.timeToCommitMs = roundTenth(performance.now() - ctx.started);
  try {
    await ctx.control.send(encodeConfirm({ migrationId: ctx.id }));
  } catch (error) {
    ctx.outcomeCause = error;
    return 'outcome-query';
  }
  report.confirmSent = true;
  return 'activation';
}
