import {
  FrameType,
  MAX_DISCARD_PAGES,
  encodeCpuState,
  encodePostcopyDiscard,
  encodePostcopyEnd,
  encodePostcopyRun,
  encodeUrgentHello,
} from '@livemig/protocol';
import { FramedSocket, connectTcp } from '@livemig/agent-runtime';
import { PageServer } from '../postcopy/page-server.js';
import { PushOrder } from '../postcopy/push-order.js';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { sendRound } from './rounds.js';

/**
 * Post-copy (Hines and Gopalan; PROTOCOL.md, "Post-copy"): opens the urgent connection while the guest still
 * runs, parks it, sends the pages the destination lacks (PostcopyDiscard: every page ever written), the CPU
 * state and PostcopyRun. That is the switch: the guest runs at the destination from then on and this side
 * never resumes it (cancel is refused, a failure leaves it parked here: outcome.ts). Then it answers page
 * requests on the urgent connection (PageServer) while it pushes every other page over the data channels in
 * the `--prepaging` order, CRIU-paced, and ends with PostcopyEnd, PostcopyDone.
 * @throws CancelledError before the switch; the connections' errors
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
  ctx.limiter.setRate(0);
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
  const figures = { prepaging: options.prepaging ?? 'bubble', missingAtSwitch: missing.length, pagesRequested: 0, pagesAnswered: 0, pagesPushed: 0, pagesSentTwice: 0 };
  report.postcopy = figures;
  const server = new PageServer(urgent, memory, order, ctx.checksums, figures);
  const serving = server.serve();
  const served = serving.then(() => new Promise<never>(() => {}));
  served.catch(() => {});
  let pushed = 0;
  while (order.remaining > 0) {
    const chunk = order.next();
    await Promise.race([sendRound(ctx, Uint32Array.from(chunk), false, true), served]);
    pushed += chunk.length;
    figures.pagesPushed = pushed;
  }
  // Every page is on its way: no request can need an answer any more, and the destination may close the
  // urgent connection before its PostcopyDone arrives on the control one.
  server.stop();
  await conn.send(encodePostcopyEnd({ pagesPushed: pushed, pagesAnswered: server.stats.pagesAnswered }));
  const done = await conn.receive(undefined, 'PostcopyDone');
  expectFrame(done, FrameType.PostcopyDone, 'post-copy');
  report.downtimeMs = report.sourceDowntimeMs;
  ctx.committed = true;
  urgent.close();
  await guest.stop();
  await ctx.dataChannels.finish().catch(() => ctx.dataChannels.terminate());
  conn.close();
  report.status = 'completed';
  log.info(report.postcopy, 'post-copy complete: every page is at the destination; guest released at the source');
  return 'completed';
}
