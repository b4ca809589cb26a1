import {
  FrameType,
  MAX_DISCARD_PAGES,
  UnexpectedFrameError,
  frameTypeName,
  encodeCpuState,
  encodePostcopyDiscard,
  encodePostcopyEnd,
  encodePostcopyRun,
  encodeUrgentHello,
} from '@livemig/protocol';
import { FramedSocket, connectTcp } from '@livemig/agent-runtime';
import { PageSender } from '../postcopy/page-sender.js';
import { PageServer } from '../postcopy/page-server.js';
import { PushOrder } from '../postcopy/push-order.js';
import { pauseUntilRecovered, type PostcopyLinks } from '../postcopy/recovery.js';
import type { PostcopySourceReport } from '../report.js';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { sendRound } from './rounds.js';

/**
 * Post-copy (Hines and Gopalan; PROTOCOL.md, "Post-copy"): opens the urgent connection while the guest still
 * runs, parks it, sends the pages the destination lacks (PostcopyDiscard: every page ever written), the CPU
 * state and PostcopyRun. That is the switch: the guest runs at the destination from then on and this side
 * never resumes it (cancel is refused). Then it answers page requests on the urgent connection (PageServer)
 * while it pushes every other page over the data channels in the `--prepaging` order, CRIU-paced, and ends
 * with PostcopyEnd, PostcopyDone. A connection lost after the switch pauses it until it recovers
 * (postcopy/recovery.ts); only the operator's discard ends it then.
 * @throws CancelledError before the switch; the connections' errors before it; after it, the discard's
 *   PostcopyFailedError
 */
export async function postCopy(ctx: MigrationContext): Promise<'completed'> {
  const { guest, report, options, log } = ctx;
  const conn = ctx.control;
  const target = ctx.postcopyTarget;
  if (!target) throw new Error('post-copy without an urgent port: the reservation did not agree to it');
  ctx.checkCancelled();
  const urgentSocket = await ctx.guard(connectTcp({ host: target.host, port: target.port }, ctx.connectTimeoutMs, ctx.security));
  const urgent = new FramedSocket(urgentSocket);
  ctx.urgent = urgent;
  urgentSocket.setNoDelay(true);
  await ctx.guard(urgent.send(encodeUrgentHello({ reservationId: target.reservationId })));
  urgent.keepAliveWhileSilent();
  // QEMU's max-postcopy-bandwidth defaults to unlimited: the guest waits on what is not sent yet.
  ctx.limiter.setRate(options.maxPostcopyBandwidthBytesPerSec ?? 0);
  ctx.enter('stop-and-copy');
  ctx.parkedAt = performance.now();
  report.timeToParkMs = roundTenth(ctx.parkedAt - ctx.started);
  await ctx.guard(guest.park());
  report.guestOpsAtPark = guest.opsDone();
  const { memory } = guest;
  // Pure post-copy sent nothing before: every page ever written is missing (the others are zero there too).
  // After pre-copy rounds (hybrid), the pages dirtied since they were last sent (QEMU's discard list).
  const dirtied = memory.harvestDirty();
  const missing = ctx.pagesBeforeRound === 0 ? memory.touchedPages() : dirtied;
  for (let at = 0; at < missing.length; at += MAX_DISCARD_PAGES) {
    await ctx.guard(conn.send(encodePostcopyDiscard({ pages: missing.subarray(at, at + MAX_DISCARD_PAGES) })));
  }
  const cpuState = guest.cpuState();
  await ctx.guard(conn.send(encodeCpuState({ registers: cpuState, running: ctx.wasRunning })));
  ctx.checkCancelled();
  // The switch, post-copy's commit point: from here on this side never resumes the guest.
  ctx.switched = true;
  ctx.enter('post-copy');
  await conn.send(encodePostcopyRun({ discarded: missing.length, rounds: ctx.round }));
  report.sourceDowntimeMs = roundTenth(performance.now() - ctx.parkedAt);
  log.info({ missing: missing.length, prepaging: options.prepaging ?? 'bubble' }, 'switched to post-copy: the guest runs at the destination');

  const order = new PushOrder(memory.pageCount, missing, { policy: options.prepaging ?? 'bubble', pivots: guest.vcpuCount });
  // Filled in as post-copy runs: the live statistics and /metrics read it.
  const figures: PostcopySourceReport = {
    prepaging: options.prepaging ?? 'bubble',
    missingAtSwitch: missing.length,
    pagesRequested: 0,
    pagesAnswered: 0,
    pagesPushed: 0,
    pagesSentTwice: 0,
    pauses: 0,
    recoveries: 0,
    failedRecoveries: 0,
  };
  report.postcopy = figures;
  let links: PostcopyLinks = { control: conn, urgent, push: 'channels' };
  for (;;) {
    try {
      await serveAndPush(ctx, links, order, figures);
      break;
    } catch (error) {
      // After the switch nothing but the operator's discard ends the migration: a lost connection pauses it.
      links = await pauseUntilRecovered(ctx, links, order, figures, error);
    }
  }
  report.downtimeMs = report.sourceDowntimeMs;
  ctx.committed = true;
  links.urgent.close();
  await guest.stop();
  await ctx.dataChannels.finish().catch(() => ctx.dataChannels.terminate());
  links.control.close();
  report.status = 'completed';
  log.info(report.postcopy, 'post-copy complete: every page is at the destination; guest released at the source');
  return 'completed';
}

/**
 * Answers requests on the urgent connection while it pushes every page still unsent (on the data channels, or
 * after a recovery on the control connection), then PostcopyEnd, and waits for PostcopyDone.
 * @throws the first error of any connection of the migration (the caller pauses)
 */
async function serveAndPush(ctx: MigrationContext, links: PostcopyLinks, order: PushOrder, figures: PostcopySourceReport): Promise<void> {
  const { memory } = ctx.guest;
  const { control } = links;
  const server = new PageServer(links.urgent, memory, order, ctx.checksums, figures);
  // Nothing else comes on the control connection until PostcopyDone: reading it now notices a cut at once.
  const done = control.receive(undefined, 'PostcopyDone');
  let ended = false;
  const broken = Promise.race([
    server.serve().then(() => new Promise<never>(() => {})),
    done.then((frame) => {
      if (!ended) throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} before PostcopyEnd`);
      return new Promise<never>(() => {});
    }),
  ]);
  broken.catch(() => {});
  try {
    const pusher = links.push === 'control' ? new PageSender(control, memory, ctx.checksums, ctx.limiter) : undefined;
    while (order.remaining > 0) {
      const chunk = order.next();
      const sent = pusher ? pusher.send(chunk) : sendRound(ctx, Uint32Array.from(chunk), false, true);
      await Promise.race([sent, broken]);
      figures.pagesPushed += chunk.length;
    }
    // Every page is on its way: no request can need an answer any more, and the destination may close the
    // urgent connection before its PostcopyDone arrives on the control one.
    server.stop();
    ended = true;
    await Promise.race([control.send(encodePostcopyEnd({ pagesPushed: figures.pagesPushed, pagesAnswered: figures.pagesAnswered })), broken]);
    const frame = await done;
    expectFrame(frame, FrameType.PostcopyDone, 'post-copy');
  } finally {
    server.stop();
  }
}
