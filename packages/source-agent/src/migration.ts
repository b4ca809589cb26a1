import { randomUUID } from 'node:crypto';
import {
  BadArgumentError,
  CancelledError,
  HandshakeError,
  DigestMismatchError,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  RefusedError,
  UnexpectedFrameError,
  encodeComplete,
  encodeCpuState,
  encodeHello,
  frameTypeName,
  type Frame,
} from '@livemig/protocol';
import type { Guest } from '@livemig/guest';
import { connectTcp } from './connect.js';
import { FramedSocket } from './framed-socket.js';
import { silentLogger, type Logger } from './logger.js';
import { PageChecksums } from './page-checksums.js';
import { ChannelSenders } from './channel-senders.js';
import { ENCODING_NAMES, emptyReport, errorSummary, type MigrationReport, type RoundReport } from './report.js';
import { SentHistory, decide, type PolicyName } from './switchover/index.js';
import type { HostPort } from './units.js';

/** Pages in PageBatch frames with the zero, same-byte, lz4, raw and delta encodings. */
export const CAPABILITY_PAGES = 'pages-v1';
/** Page data on one or more data-channel connections (ChannelHello), control on the first connection. */
export const CAPABILITY_CHANNELS = 'channels-v1';
export const CAPABILITIES = [CAPABILITY_PAGES, CAPABILITY_CHANNELS];

export interface MigrationOptions {
  target: HostPort;
  /** Identity carried from host to host, so a guest keeps its id across A -> B -> A. */
  guestId?: string;
  /** When to stop iterating: downtime (QEMU), xen, or patterns (Ibrahim et al.). */
  policy?: PolicyName;
  downtimeLimitMs?: number;
  maxRounds?: number;
  /** Stop iterating once the migration has run this long (whatever the policy). */
  maxTimeMs?: number;
  /** Data channels (TCP connections, each with its own encoding thread), like QEMU's multifd channels. */
  streams?: number;
  /** Budget for the copies of resent pages that delta encoding works against (0: no delta encoding). */
  deltaCacheBytes?: number;
  /** Channel workers spawned ahead (ChannelSenders.spawn(streams)); else they are spawned at the start. */
  channels?: Promise<ChannelSenders>;
  token?: string;
  connectTimeoutMs?: number;
  /** How long to wait for Accept/Refuse, and for Committed after Complete. */
  answerTimeoutMs?: number;
  idleTimeoutMs?: number;
  log?: Logger;
  onRound?: (round: RoundReport) => void;
  signal?: AbortSignal;
}

export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
export const DEFAULT_MAX_ROUNDS = 30;
export const DEFAULT_STREAMS = 2;
export const DEFAULT_DELTA_CACHE_BYTES = 64 * 1024 * 1024;
export const MAX_STREAMS = 16;

/**
 * Live-migrates a guest to a destination agent: handshake and reservation, iterative pre-copy rounds over
 * the data channels, stop-and-copy with the CPU state, then waits for the destination to verify and commit.
 *
 * Never throws. The source is primary until commit: on any failure or cancel before Committed arrives the
 * guest goes back to what it was doing (running, or paused if it was paused) with its memory untouched, and
 * the report says why. After Committed the guest's workers are stopped here; the destination runs it.
 */
export async function migrateGuest(guest: Guest, options: MigrationOptions): Promise<MigrationReport> {
  const log = options.log ?? silentLogger();
  const started = performance.now();
  const { memory } = guest;
  const policy = {
    policy: options.policy ?? 'downtime',
    downtimeLimitMs: options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS,
    maxRounds: options.maxRounds ?? DEFAULT_MAX_ROUNDS,
    maxTimeMs: options.maxTimeMs ?? Number.POSITIVE_INFINITY,
  };
  const streams = options.streams ?? DEFAULT_STREAMS;
  const answerTimeoutMs = options.answerTimeoutMs ?? 60_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const report = emptyReport({
    status: 'failed',
    guestId: options.guestId ?? randomUUID(),
    target: `${options.target.host}:${options.target.port}`,
    policy: policy.policy,
    streams,
    memoryBytes: memory.memoryBytes,
    guestOpsAtStart: guest.opsDone(),
    peakRssBytes: 0,
  });
  const checkCancelled = (): void => {
    if (options.signal?.aborted) throw new CancelledError('migration cancelled at the source');
  };
  // A paused guest is migrated paused and stays paused wherever it ends up (QEMU keeps the run state too).
  const wasRunning = !guest.parked;
  let connection: FramedSocket | undefined;
  let channels: ChannelSenders | undefined;
  let spawned: Promise<ChannelSenders> | undefined;
  let committed = false;
  let pagesSent = 0;
  try {
    if (!Number.isInteger(streams) || streams < 1 || streams > MAX_STREAMS) {
      throw new BadArgumentError(`--streams: expected 1..${MAX_STREAMS}, got ${streams}`);
    }
    checkCancelled();
    // Worker threads take ~100 ms to start: let them start while we connect and negotiate.
    spawned = options.channels ?? ChannelSenders.spawn(streams);
    spawned.catch(() => {});
    const socket = await connectTcp(options.target, options.connectTimeoutMs ?? 10_000);
    connection = new FramedSocket(socket, { idleTimeoutMs });
    const conn = connection;
    log.info({ target: report.target, guestId: report.guestId, streams }, 'connected, sending hello');

    // Phase 1-2: handshake and reservation.
    await conn.send(
      encodeHello({
        protocolVersion: PROTOCOL_VERSION,
        capabilities: CAPABILITIES,
        guestId: report.guestId,
        geometry: {
          pageSize: PAGE_SIZE,
          memoryBytes: memory.memoryBytes,
          slotBytes: memory.slotBytes,
          vcpus: guest.vcpuCount,
        },
        workload: { ...guest.workload },
        channels: streams,
        ...(options.token === undefined ? {} : { token: options.token }),
      }),
    );
    const answer = await conn.receive(answerTimeoutMs, 'Accept or Refuse');
    if (answer.type === FrameType.Refuse) {
      throw new RefusedError(`destination refused the guest: ${answer.message.message} (${answer.message.code})`);
    }
    expectFrame(answer, FrameType.Accept, 'handshake');
    const ports = answer.message.channelPorts;
    if (ports.length !== streams) {
      throw new HandshakeError(`destination opened ${ports.length} data channels, ${streams} were asked for`);
    }
    const checksums = PageChecksums.create(memory.pageCount);
    channels = await spawned;
    if (channels.count !== streams) throw new Error(`${channels.count} channel workers prepared for ${streams} streams`);
    await channels.connect({
      host: options.target.host,
      ports,
      reservationId: answer.message.reservationId,
      memory,
      checksums,
      deltaCacheBytes: options.deltaCacheBytes ?? DEFAULT_DELTA_CACHE_BYTES,
      idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    });
    // Page data now flows on the channels; the control connection may stay silent for a whole pre-copy.
    conn.socket.setTimeout(0);
    conn.socket.setKeepAlive(true, 5_000);
    report.setupTimeMs = round1(performance.now() - started);
    log.info({ setupTimeMs: report.setupTimeMs }, 'destination reserved the guest, data channels open');

    // Phase 3: iterative pre-copy. Round 1 sends every page ever written; never-written pages are zero.
    const send = async (round: number, pages: Uint32Array): Promise<{ ms: number; bytes: number }> => {
      checkCancelled();
      // The control connection is silent during pre-copy; a cut or an Abort on it ends the migration here.
      if (conn.error) throw conn.error;
      const start = performance.now();
      const bytesBefore = channels!.bytesSent;
      await channels!.sendRound(round, pages);
      pagesSent += pages.length;
      return { ms: performance.now() - start, bytes: channels!.bytesSent - bytesBefore };
    };
    memory.harvestDirty();
    let pages = memory.touchedPages();
    let round = 1;
    let movedBytes = 0;
    let movedMs = 0;
    const history = new SentHistory(memory.pageCount);
    const dirtyHistory: number[] = [];
    // A paused guest dirties nothing: one round is the whole image, then stop-and-copy finds nothing new.
    for (;;) {
      const sent = await send(round, pages);
      movedBytes += pages.length * PAGE_SIZE;
      movedMs += sent.ms;
      const dirty = memory.dirtyCount();
      dirtyHistory.push(dirty);
      const decision = decide(
        {
          round,
          pagesSent: pages.length,
          pagesResent: history.record(pages),
          dirtyPages: dirty,
          dirtyHistory,
          roundMs: sent.ms,
          bandwidthBytesPerMs: movedBytes / Math.max(movedMs, 0.001),
          elapsedMs: performance.now() - started,
        },
        policy,
      );
      const roundReport: RoundReport = {
        round,
        final: false,
        pagesSent: pages.length,
        bytesOnWire: sent.bytes,
        ms: round1(sent.ms),
        pagesDirtiedMeanwhile: dirty,
        expectedDowntimeMs: round1(decision.expectedDowntimeMs),
      };
      report.rounds.push(roundReport);
      log.info(roundReport, 'pre-copy round sent');
      options.onRound?.(roundReport);
      if (decision.switchover) {
        report.switchoverReason = decision.reason;
        break;
      }
      pages = memory.harvestDirty();
      round += 1;
    }

    // Phase 4: stop-and-copy. Downtime starts when the vCPUs park.
    checkCancelled();
    const parkedAt = performance.now();
    await guest.park();
    report.guestOpsAtPark = guest.opsDone();
    pages = memory.harvestDirty();
    round += 1;
    const sent = await send(round, pages);
    const cpuState = guest.cpuState();
    await conn.send(encodeCpuState({ registers: cpuState, running: wasRunning }));
    report.sourceDigest = checksums.digest(cpuState);
    await conn.send(encodeComplete({ digest: report.sourceDigest, pagesSent, rounds: round }));
    const finalRound: RoundReport = {
      round,
      final: true,
      pagesSent: pages.length,
      bytesOnWire: sent.bytes,
      ms: round1(sent.ms),
      pagesDirtiedMeanwhile: 0,
      expectedDowntimeMs: 0,
    };
    report.rounds.push(finalRound);
    log.info(finalRound, 'stop-and-copy sent, waiting for the destination to commit');
    options.onRound?.(finalRound);

    // Phase 5: commitment. Cancel is no longer possible once Complete is out: the destination decides.
    const verdict = await conn.receive(answerTimeoutMs, 'Committed');
    expectFrame(verdict, FrameType.Committed, 'commit');
    if (verdict.message.digest !== report.sourceDigest) {
      throw new DigestMismatchError(`destination committed digest ${verdict.message.digest}, expected ${report.sourceDigest}`);
    }
    committed = true;
    report.timeToCommitMs = round1(performance.now() - started);
    await guest.stop();
    log.info('destination committed; guest released at the source');

    // Phase 6: activation at the destination ends the downtime.
    try {
      const activated = await conn.receive(answerTimeoutMs, 'Activated');
      expectFrame(activated, FrameType.Activated, 'activation');
      report.downtimeMs = round1(performance.now() - parkedAt);
    } catch (error) {
      log.warn({ err: errorSummary(error) }, 'committed, but no activation notice from the destination');
    }
    await channels.finish().catch(() => channels?.terminate());
    conn.close();
    report.status = 'completed';
  } catch (error) {
    report.error = errorSummary(error);
    if (committed) {
      // The guest belongs to the destination now; nothing to undo here.
      report.status = 'completed';
    } else {
      report.status = error instanceof CancelledError ? 'cancelled' : 'failed';
      void spawned?.then((unused) => unused.terminate(), () => {});
      connection?.abort(error instanceof Error ? error : new Error(String(error)));
      if (wasRunning) guest.resume();
      log.warn({ err: report.error }, 'migration did not complete; the guest stays here as it was');
    }
  } finally {
    report.totalTimeMs = round1(performance.now() - started);
    if (channels) {
      const stats = channels.stats();
      for (const name of ENCODING_NAMES) {
        report.pagesSent[name] = stats.pages[name] ?? 0;
        report.bytesByEncoding[name] = stats.bytes[name] ?? 0;
      }
      report.deltaCacheHits = channels.deltaHits;
    }
    report.imageBytes = pagesSent * PAGE_SIZE;
    report.bytesOnWire = (connection?.bytesSent ?? 0) + (channels?.bytesSent ?? 0);
    report.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  }
  return report;
}

function expectFrame<T extends Frame['type']>(
  frame: Frame,
  type: T,
  phase: string,
): asserts frame is Extract<Frame, { type: T }> {
  if (frame.type !== type) {
    throw new UnexpectedFrameError(
      `expected ${frameTypeName(type)} during ${phase}, got ${frameTypeName(frame.type)}`,
    );
  }
}

function round1(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 10) / 10 : value;
}
