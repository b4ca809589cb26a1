import {
  FrameType,
  HandshakeError,
  OutcomeDecidedError,
  bitmapHas,
  encodePostcopyResume,
  encodeUrgentHello,
} from '@livemig/protocol';
import { FramedSocket, connectTcp, errorSummary, type HostPort } from '@livemig/agent-runtime';
import { PostcopyFailedError } from '../errors.js';
import type { PostcopySourceReport } from '../report.js';
import type { MigrationContext } from '../outgoing/context.js';
import { expectFrame } from '../outgoing/expect-frame.js';
import type { PushOrder } from './push-order.js';
import { resumeBackoffMs } from './resume-requests.js';

/** Where post-copy runs after the switch: the control and urgent connections, and what carries the push. */
export interface PostcopyLinks {
  control: FramedSocket;
  urgent: FramedSocket;
  /** `channels`: the data channels, as at the switch; `control`: the recovered control connection. */
  push: 'channels' | 'control';
}

/**
 * A connection was lost after the switch: post-copy pauses (QEMU's postcopy-paused) instead of failing. Every
 * connection of the migration is closed, the data channels' threads end, and the guest stays parked here with
 * its memory and the push order as they are: this side never resumes it. Then it waits for a resume (the
 * operator's, or an automatic one with `postcopyRetries`), reconnects, and returns the recovered links; an
 * attempt that fails leaves it paused and it waits again.
 * @throws the discard's PostcopyFailedError; PostcopyFailedError once the automatic attempts are spent and no
 *   operator can resume it (`postcopyOperator: false`); OutcomeDecidedError when the destination answers that it
 *   aborted before the switch (its journal's word: the guest never ran there, and resumes here)
 */
export async function pauseUntilRecovered(ctx: MigrationContext, links: PostcopyLinks, order: PushOrder, figures: PostcopySourceReport, cause: unknown): Promise<PostcopyLinks> {
  links.urgent.destroy();
  links.control.destroy();
  ctx.channels?.terminate();
  figures.pauses++;
  ctx.enter('postcopy-paused');
  ctx.log.warn({ err: errorSummary(cause), pending: order.remaining }, 'post-copy paused: a connection was lost after the switch; the guest stays parked here until it recovers');
  for (;;) {
    const automatic = ctx.automaticResumes < (ctx.options.postcopyRetries ?? 0);
    if (!automatic && ctx.options.postcopyOperator === false) {
      throw new PostcopyFailedError(`post-copy paused and could not recover (${figures.failedRecoveries} attempts failed; cause: ${errorSummary(cause).message}); no operator can resume it`);
    }
    const target = await ctx.resumeRequests.next(automatic ? { target: ctx.options.target, delayMs: resumeBackoffMs(ctx.automaticResumes) } : undefined);
    if (automatic) ctx.automaticResumes++;
    try {
      const recovered = await reconnect(ctx, target, order, figures);
      figures.recoveries++;
      ctx.enter('post-copy');
      ctx.log.info({ target, pending: order.remaining }, 'post-copy recovered: re-sending every page the destination lacks');
      return recovered;
    } catch (error) {
      figures.failedRecoveries++;
      if (error instanceof OutcomeDecidedError) {
        // The destination journaled an abort before it read PostcopyRun: the guest never ran there, so the copy
        // here is the only one and not stale. The migration fails as one before its commit point does.
        ctx.switched = false;
        ctx.log.warn({ err: errorSummary(error) }, 'the destination aborted before the switch (its journal says so): the guest resumes here');
        throw error;
      }
      ctx.log.warn({ target, err: errorSummary(error) }, 'post-copy recovery attempt failed; still paused');
    }
  }
}

/**
 * One recovery attempt (PROTOCOL.md, "Post-copy recovery"): the control connection with PostcopyResume, the
 * urgent one with UrgentHello, both to `target` and authenticated as the first ones were; then the destination's
 * present map, and every page it lacks goes back into the push (pages lost in flight counted as sent twice).
 * @throws the connections' errors, HandshakeError for a map of another guest, the map's decode errors
 */
async function reconnect(ctx: MigrationContext, target: HostPort, order: PushOrder, figures: PostcopySourceReport): Promise<PostcopyLinks> {
  const reservationId = ctx.postcopyTarget!.reservationId;
  const { memory } = ctx.guest;
  const control = new FramedSocket(await connectTcp(target, ctx.connectTimeoutMs, ctx.security));
  let urgent: FramedSocket | undefined;
  try {
    await control.send(encodePostcopyResume({ migrationId: ctx.id, reservationId }));
    const urgentSocket = await connectTcp(target, ctx.connectTimeoutMs, ctx.security);
    urgentSocket.setNoDelay(true);
    urgent = new FramedSocket(urgentSocket);
    await urgent.send(encodeUrgentHello({ reservationId }));
    const frame = await control.receive(ctx.idleTimeoutMs, 'PostcopyReceived');
    expectFrame(frame, FrameType.PostcopyReceived, 'post-copy recovery');
    const map = frame.message;
    if (map.pageCount !== memory.pageCount) throw new HandshakeError(`the destination's present map has ${map.pageCount} pages, the guest ${memory.pageCount}`);
    for (let page = 0; page < map.pageCount; page++) {
      if (!bitmapHas(map.bitmap, page) && order.requeue(page)) figures.pagesSentTwice++;
    }
  } catch (error) {
    control.destroy();
    urgent?.destroy();
    throw error;
  }
  control.keepAliveWhileSilent();
  urgent.keepAliveWhileSilent();
  ctx.connection = control;
  ctx.urgent = urgent;
  return { control, urgent, push: 'control' };
}
