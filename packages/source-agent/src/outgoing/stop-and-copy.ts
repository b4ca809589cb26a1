import { cpuMsSince, markStep } from '@livemig/agent-runtime';
import { encodeComplete, encodeCpuState, newCommitNonce } from '@livemig/protocol';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { sendRound } from './rounds.js';
import { DEFAULT_INTERRUPT_TIMEOUT_MS } from './soft-pages.js';

/**
 * Phase 4, stop-and-copy: parks the vCPUs (the downtime starts), sends the CPU state on the control connection
 * while the final round (the pages dirtied since the last harvest) goes on the data channels, then Complete
 * with the image digest once the final round is out. Writing Complete is
 * the point of no return: the phase is `commit` from just before it, and cancel is refused from there.
 * @throws CancelledError up to Complete; a data channel's or the control connection's failure
 */
export async function stopAndCopy(ctx: MigrationContext): Promise<'commit'> {
  const { guest, report } = ctx;
  const conn = ctx.control;
  ctx.checkCancelled();
  // With acknowledgements, the guest is parked only once the destination has applied every pre-copy round: the
  // final round's pages then queue behind no backlog, and the downtime is what the switchover policy expected
  // (it counts the final round's pages against an idle destination). The guest runs meanwhile.
  if (ctx.roundAcks) await ctx.guard(ctx.roundAcks.until(ctx.round));
  // SonicMigration's pre-suspend interrupt, while the guest still runs (off the downtime).
  await ctx.softPages?.interrupt(ctx.options.interruptTimeoutMs ?? DEFAULT_INTERRUPT_TIMEOUT_MS);
  // With the guest parked, a slower send only lengthens the downtime: the bandwidth limit is lifted.
  ctx.limiter.setRate(0);
  ctx.enter('stop-and-copy');
  ctx.parkedAt = performance.now();
  report.timeToParkMs = roundTenth(ctx.parkedAt - ctx.started);
  markStep('S parking');
  const parking = guest.park();
  // The vCPUs that acknowledged the interrupt wait in it until the guest is told to park (done just above).
  ctx.softPages?.release();
  markStep('S park asked');
  await ctx.guard(parking);
  markStep('S park awaited');
  const cpuAtPark = process.cpuUsage();
  markStep('S parked');
  report.guestOpsAtPark = guest.opsDone();
  const harvested = guest.memory.harvestDirty();
  // With a working set, the pages the rounds deferred go now (Zaw and Thein's stop phase). The soft pages'
  // final round may add pages skipped before; the balloon filter comes last, so a page in the balloon is never
  // read, whatever an earlier round skipped. (--working-set excludes the other two: handshake.ts.)
  const withDeferred = ctx.workingSet ? ctx.workingSet.stopRound(harvested) : harvested;
  const hard = ctx.softPages ? ctx.softPages.final(withDeferred) : withDeferred;
  const pages = ctx.balloon ? ctx.balloon.filter(hard, true) : hard;
  ctx.round += 1;
  // Parked, the register files no longer change: they go now, beside the final round, not after it. The
  // destination holds them until Complete, which still follows the final round (its digest needs every CRC).
  const cpuState = guest.cpuState();
  const cpuStateSent = ctx.guard(conn.send(encodeCpuState({ registers: cpuState, running: ctx.wasRunning })));
  cpuStateSent.catch(() => {});
  markStep(`S final round posted (${pages.length} pages)`);
  const sent = await sendRound(ctx, pages, true);
  markStep('S final round sent');
  await cpuStateSent;
  markStep('S CPU state sent');
  const digest = ctx.checksums.digest(cpuState);
  markStep('S digest made');
  report.sourceDigest = digest;
  ctx.checkCancelled();
  // From here on the destination decides: cancel is refused.
  ctx.passPointOfNoReturn();
  ctx.cpuState = cpuState;
  ctx.commitNonce = newCommitNonce();
  await conn.send(encodeComplete({ digest, pagesSent: ctx.pagesBeforeRound, rounds: ctx.round, nonce: ctx.commitNonce }));
  markStep('S Complete sent');
  report.sourceDowntimeMs = roundTenth(performance.now() - ctx.parkedAt);
  report.sourceDowntimeCpuMs = cpuMsSince(cpuAtPark);
  ctx.finalRound = { pages, sent };
  return 'commit';
}
