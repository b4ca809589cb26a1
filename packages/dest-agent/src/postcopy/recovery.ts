import { encodePostcopyReceived, receivedBitmap } from '@livemig/protocol';
import { errorSummary, type FramedSocket, type Logger } from '@livemig/agent-runtime';
import type { PresentMap } from '@livemig/guest';
import { servePostcopy, type PostcopyLinks, type PostcopyProgress } from '../incoming/post-copy.js';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { IncomingImage } from '../incoming/reservation.js';
import type { UrgentListener } from './urgent-connection.js';
import type { IncomingRecord } from '../incoming/incoming-record.js';
import type { PausedPostcopies } from './paused-postcopies.js';

export interface PauseContext {
  /** The migration's first control connection. */
  control: FramedSocket;
  paused: PausedPostcopies;
  reservationId: string;
  migrationId: string;
  sourceAddress: string;
  idleTimeoutMs: number;
  present: PresentMap;
  record: IncomingRecord;
  log: Logger;
  /** Stops the data channels' threads (once: the push never goes back to them); resolves once they are gone. */
  stopChannels: () => Promise<void>;
}

/**
 * Post-copy from the switch to PostcopyDone, through any number of pauses and recoveries.
 * @returns the links it ended on (the caller closes them)
 */
export async function postcopyUntilDone(ctx: PauseContext, urgent: UrgentListener, image: IncomingImage, progress: PostcopyProgress): Promise<PostcopyLinks> {
  let links: PostcopyLinks | undefined;
  // A recovery connection while post-copy runs: the source lost its connections; these are cut to pause.
  const interrupt = (): void => {
    ctx.log.warn({ migrationId: ctx.migrationId }, 'post-copy interrupted: the source reconnects, its connections are gone');
    (links?.control ?? ctx.control).destroy();
    links?.urgent.destroy();
  };
  ctx.paused.track(ctx.reservationId, { migrationId: ctx.migrationId, sourceAddress: ctx.sourceAddress, idleTimeoutMs: ctx.idleTimeoutMs }, interrupt);
  try {
    for (;;) {
      try {
        links ??= { control: ctx.control, urgent: await urgent.connection(), push: 'channels' };
        await servePostcopy(links, image, ctx.present, progress);
        urgent.close();
        if (links.push === 'channels') ctx.stopChannels();
        return links;
      } catch (error) {
        urgent.close();
        links = await pauseUntilRecovered(ctx, links, progress, error);
      }
    }
  } finally {
    ctx.paused.untrack(ctx.reservationId);
  }
}

/**
 * A connection was lost after the switch: post-copy pauses here (QEMU's postcopy-paused) instead of failing.
 * Every connection of the migration is closed; the guest keeps running on the pages it has, and a vCPU that
 * touches a missing page waits (parkable, as ever) with its fault kept in `progress.requests`. Recovery
 * connections are taken on the main port or a recovery port (PausedPostcopies); once an attempt's control and
 * urgent connections are both in, the present map (QEMU's received bitmap, with its end mark) goes out on the
 * control one and post-copy goes on with the push there. An attempt cut before the map is out is dropped, and
 * the next awaited. Never gives up by itself: the source may come back at any time, and the guest cannot
 * finish without it.
 */
export async function pauseUntilRecovered(ctx: PauseContext, links: PostcopyLinks | undefined, progress: PostcopyProgress, cause: unknown): Promise<PostcopyLinks> {
  (links?.control ?? ctx.control).destroy();
  links?.urgent.destroy();
  const stopped = !links || links.push === 'channels' ? ctx.stopChannels() : Promise.resolve();
  progress.pauses++;
  ctx.paused.pause(ctx.reservationId);
  ctx.record.report.status = 'postcopy-paused';
  ctx.record.report.postcopyPauses = progress.pauses;
  ctx.log.warn({ migrationId: ctx.migrationId, err: errorSummary(cause), missing: ctx.present.pageCount - ctx.present.presentCount() }, 'post-copy paused: a connection was lost after the switch; the guest runs on the pages it has');
  for (;;) {
    const attempt = await ctx.paused.nextAttempt(ctx.reservationId);
    // No placer may run while the map is taken: a channel thread stopped between claim and publish left a claim
    // that would refuse the page's re-sent copy forever.
    await stopped;
    const released = ctx.present.releaseStuckClaims();
    if (released > 0) ctx.log.warn({ migrationId: ctx.migrationId, released }, 'claims of pages never placed given back');
    const map = receivedBitmap(ctx.present.pageCount, (page) => ctx.present.isPresent(page));
    try {
      await attempt.control.send(encodePostcopyReceived(map));
    } catch (error) {
      attempt.control.destroy();
      attempt.urgent.destroy();
      ctx.log.warn({ migrationId: ctx.migrationId, err: errorSummary(error) }, 'post-copy recovery attempt lost before the present map went out; still paused');
      continue;
    }
    ctx.paused.resume(ctx.reservationId);
    progress.recoveries++;
    ctx.record.report.status = 'receiving';
    ctx.log.info({ migrationId: ctx.migrationId, present: map.presentPages, pages: map.pageCount }, 'post-copy recovered: present map sent, the source re-sends the rest');
    return { control: attempt.control, urgent: attempt.urgent, push: 'control' };
  }
}

/** Stops a migration's channel threads through the agent (whose close() waits for them); resolves once they are gone. */
export function stopAndWait(stop: (channels: ChannelReceivers) => void, channels: ChannelReceivers): Promise<void> {
  stop(channels);
  return channels.close().catch(() => {});
}
