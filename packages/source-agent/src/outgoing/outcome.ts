import { CancelledError, OutcomeUnknownError, PAGE_SIZE } from '@livemig/protocol';
import { cpuMsSince, errorSummary } from '@livemig/agent-runtime';
import { checkModel } from '../model/model-check.js';
import { PostcopyFailedError } from '../errors.js';
import type { MigrationStatus } from '../report.js';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import type { FinalPhase } from './phases.js';

/**
 * What a failure or a cancel in any phase does. The source is primary until Committed: before it, the
 * channels are cut, the destination is sent Abort (it discards what it received and releases the
 * reservation) and the guest goes back to what it was doing, its memory untouched. After Committed the guest
 * belongs to the destination, and its parked workers here only have to go.
 */
/** How long a failure waits for the destination's own reason before it is reported as it is (failure path only). */
export const PEER_REASON_WAIT_MS = 1000;

/**
 * The failure to report: a data channel cut before the commit point is most often the destination ending the
 * migration. It aborts the channel where it found the fault at once, then tells its reason on the control
 * connection once that is journaled (PROTOCOL.md, "Commit", rule 5). Whichever the source reads first is a race,
 * and the cut says less: so on LM_ERR_PEER_CLOSED this waits (at most PEER_REASON_WAIT_MS) for the control
 * connection to end, and reports the destination's Abort if that is how it ended.
 */
export async function withPeerReason(ctx: MigrationContext, error: unknown): Promise<unknown> {
  const control = ctx.connection;
  if (!control || ctx.committed || ctx.switched || errorSummary(error).code !== 'LM_ERR_PEER_CLOSED') return error;
  await control.ended(PEER_REASON_WAIT_MS);
  return control.peerAborted ? control.error : error;
}

export function handleFailure(ctx: MigrationContext, error: unknown): void {
  const { report, guest } = ctx;
  report.error = errorSummary(error);
  if (error instanceof OutcomeUnknownError) {
    // Neither side runs the guest until it is resolved: it stays parked here (PROTOCOL.md, "Commit", rule 4).
    report.status = 'outcome-unknown';
    ctx.channels?.terminate();
    ctx.connection?.destroy();
    ctx.log.error({ err: report.error, confirmSent: report.confirmSent }, 'migration outcome unknown; the guest stays parked here until an operator resolves it');
    return;
  }
  if (ctx.committed) {
    report.status = 'completed';
    void guest.stop();
    return;
  }
  if (ctx.switched) {
    // Post-copy after the switch: the guest runs at the destination with pages only this side has. Resuming
    // here would run two copies. A lost connection only pauses post-copy (post-copy.ts); what ends it here is
    // the operator's discard (the copy is dropped), or automatic recovery given up without an operator, or a
    // bug: then it stays parked, never resumed.
    const cause = errorSummary(error);
    report.error = error instanceof PostcopyFailedError ? cause : errorSummary(new PostcopyFailedError(`post-copy failed after the switch (${cause.code}: ${cause.message}); the guest stays parked here and is never resumed`));
    report.status = 'failed';
    ctx.channels?.terminate();
    ctx.urgent?.destroy();
    ctx.connection?.destroy();
    if (ctx.postcopyDiscarded) void guest.stop();
    ctx.log.error({ err: report.error }, ctx.postcopyDiscarded ? 'post-copy discarded by the operator; the copy here is dropped' : 'post-copy failed after the switch; the guest stays parked here, never resumed');
    return;
  }
  report.status = error instanceof CancelledError ? 'cancelled' : 'failed';
  ctx.channels?.terminate();
  // The threads spawned for this migration, or handed in by the caller when a check refused it before the
  // handshake spawned any: either way nobody else will use them, and a live thread keeps the process alive.
  void (ctx.spawned ?? ctx.options.channels)?.then((unused) => unused.terminate(), () => {});
  ctx.connection?.abort(error instanceof Error ? error : new Error(String(error)));
  // The guest gets back what it lent this migration: its ballooned pages, and the vCPUs held in the
  // pre-suspend interrupt's acknowledgement (released at park, which a failure may have come before).
  ctx.balloon?.deflate();
  ctx.softPages?.release();
  if (ctx.wasRunning) guest.resume();
  ctx.log.warn({ err: report.error }, 'migration did not complete; the guest stays here as it was');
}

/** Fills in the report's totals, however the migration ended, and releases the throttle. */
export function closeReport(ctx: MigrationContext): void {
  const { report } = ctx;
  // Released however the migration ended: a throttle must never outlive it (QEMU does the same).
  if (ctx.autoConverge.throttlePercent > 0) {
    report.throttlePercent = ctx.autoConverge.throttlePercent;
    ctx.setThrottle(0);
  }
  report.totalTimeMs = roundTenth(performance.now() - ctx.started);
  const counts = ctx.stats.encodingCounts();
  report.pagesSent = counts.pages;
  report.bytesByEncoding = counts.bytes;
  report.deltaCacheHits = ctx.channels?.deltaHits ?? 0;
  report.imageBytes = ctx.pagesBeforeRound * PAGE_SIZE;
  report.bytesOnWire = ctx.stats.bytesOnWire;
  report.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  report.cpuMs = cpuMsSince(ctx.cpuAtStart);
  report.parameters = ctx.parameters();
  report.workingSet = ctx.workingSet?.report() ?? null;
  report.model = checkModel(report);
}

/** The phase a migration ends in, from its report's status. */
export function finalPhase(status: MigrationStatus): FinalPhase {
  return status === 'completed' || status === 'cancelled' || status === 'outcome-unknown' ? status : 'failed';
}
