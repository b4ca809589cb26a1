import { CAPABILITY_DIRECT_PAGES, CAPABILITY_LZ4_RUNS, CAPABILITY_POSTCOPY, CAPABILITY_ROUND_ACK, CAPABILITY_ZSTD_RUNS, FrameType, HandshakeError, PageChecksums, RefusedError } from '@livemig/protocol';
import { markStep } from '@livemig/agent-runtime';
import { DEFAULT_COMPRESS } from '../compression-choice.js';
import { roundTenth } from '../round-tenth.js';
import { SwitchoverCost } from '../switchover/index.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { offersDirectPages } from './handshake.js';
import { RoundAcks } from './round-acks.js';
import { DEFAULT_DELTA_CACHE_BYTES } from './options.js';

/**
 * Phase 2, reservation: waits for the destination to check and reserve the guest (Accept, with a port per
 * data channel) or refuse it, then starts the channels. They connect while round 1 is handed out.
 * @throws RefusedError on Refuse; HandshakeError or UnexpectedFrameError for an answer that does not fit;
 *   CancelledError; the connection's errors
 */
export async function reservation(ctx: MigrationContext): Promise<'pre-copy'> {
  const { options, report } = ctx;
  const { memory } = ctx.guest;
  const conn = ctx.control;
  ctx.enter('reservation');
  const helloSentAt = performance.now();
  // Reserving may take the destination long when it is loaded: only a peer silent for the idle timeout has
  // failed here. The answer timeout is for the answers after Complete, where a lost one must be noticed.
  const answered = ctx.guard(conn.receive(ctx.idleTimeoutMs, 'Accept or Refuse'));
  // The page table needs nothing from Accept: it is made (0.6 ms for 1 GiB, filled with the zero page's CRC)
  // while the destination reserves, off the setup path.
  ctx.checksums = PageChecksums.create(memory.pageCount);
  const answer = await answered;
  markStep('S Accept read');
  ctx.switchoverCost = new SwitchoverCost(performance.now() - helloSentAt);
  if (answer.type === FrameType.Refuse) {
    throw new RefusedError(`destination refused the guest: ${answer.message.message} (${answer.message.code})`);
  }
  expectFrame(answer, FrameType.Accept, 'handshake');
  const ports = answer.message.channelPorts;
  if (ports.length !== ctx.channelCount) {
    throw new HandshakeError(`destination opened ${ports.length} data channels, ${ctx.channelCount} were asked for`);
  }
  if (ctx.mode !== 'precopy') {
    const { urgentPort, capabilities, reservationId } = answer.message;
    if (capabilities.includes(CAPABILITY_POSTCOPY) && urgentPort !== undefined) {
      ctx.postcopyTarget = { host: options.target.host, port: urgentPort, reservationId };
    } else if (ctx.mode === 'postcopy') {
      throw new HandshakeError('the destination does not serve post-copy (it did not agree to postcopy-v1 with an urgent port)');
    } else {
      ctx.log.warn('the destination does not serve post-copy: this hybrid migration stays in pre-copy');
    }
  }
  // Only what was offered: a destination that echoes direct-pages-v2 to a post-copy or hybrid migration, or to
  // one that kept the copied form, does not get raw pages outside the frame check.
  ctx.directPages = ctx.mode === 'precopy' && offersDirectPages(options) && answer.message.capabilities.includes(CAPABILITY_DIRECT_PAGES);
  if (ctx.mode === 'precopy' && answer.message.capabilities.includes(CAPABILITY_ROUND_ACK)) {
    // Each acknowledgement also says what the round's pages cost the destination (PageCost.observeDestination).
    ctx.roundAcks = new RoundAcks(conn, ctx.idleTimeoutMs, (ack) => ctx.pageCost.observeDestination(ack.pages, ack.applyUs / 1000));
    report.roundAcks = ctx.roundAcks.report;
  }
  const channels = await ctx.guard(ctx.channelThreads);
  ctx.channels = channels;
  if (channels.count !== ctx.channelCount) throw new Error(`${channels.count} channel workers prepared for ${ctx.channelCount} data channels`);
  // The channels connect while round 1 is handed out: a channel that cannot connect fails round 1.
  channels.start({
    host: options.target.host,
    ports,
    reservationId: answer.message.reservationId,
    memory,
    checksums: ctx.checksums,
    deltaCacheBytes: options.deltaCacheBytes ?? DEFAULT_DELTA_CACHE_BYTES,
    idleTimeoutMs: ctx.idleTimeoutMs,
    connectTimeoutMs: ctx.connectTimeoutMs,
    security: ctx.security,
    rateLimit: ctx.limiter.buffer,
    lz4Runs: answer.message.capabilities.includes(CAPABILITY_LZ4_RUNS),
    compress: options.compress ?? DEFAULT_COMPRESS,
    zstdRuns: answer.message.capabilities.includes(CAPABILITY_ZSTD_RUNS),
    directPages: ctx.directPages,
    sparseRunsInPreCopy: ctx.roundAcks !== undefined,
  });
  // Page data now flows on the channels; the control connection may stay silent for a whole pre-copy.
  markStep('S channels told to start');
  conn.keepAliveWhileSilent();
  report.setupTimeMs = roundTenth(performance.now() - ctx.started);
  ctx.log.info({ setupTimeMs: report.setupTimeMs }, 'destination reserved the guest, data channels opening');
  return 'pre-copy';
}
