import { randomUUID } from 'node:crypto';
import {
  CancelledError,
  DigestMismatchError,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  RefusedError,
  UnexpectedFrameError,
  encodeComplete,
  encodeCpuState,
  encodeHello,
  encodeRoundBegin,
  encodeRoundEnd,
  frameTypeName,
  type Frame,
} from '@livemig/protocol';
import type { Guest } from '@livemig/guest';
import { connectTcp } from './connect.js';
import { FramedSocket } from './framed-socket.js';
import { silentLogger, type Logger } from './logger.js';
import { PageChecksums } from './page-checksums.js';
import { PageSender } from './page-sender.js';
import { errorSummary, type MigrationReport, type RoundReport } from './report.js';
import { decideSwitchover } from './switchover.js';
import type { HostPort } from './units.js';

/** Pages in PageBatch frames with the zero, same-byte, lz4 and raw encodings. */
export const CAPABILITY_PAGES = 'pages-v1';
export const CAPABILITIES = [CAPABILITY_PAGES];

export interface MigrationOptions {
  target: HostPort;
  /** Identity carried from host to host, so a guest keeps its id across A -> B -> A. */
  guestId?: string;
  downtimeLimitMs?: number;
  maxRounds?: number;
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

/**
 * Live-migrates a running guest to a destination agent: handshake and reservation, iterative pre-copy
 * rounds, stop-and-copy with the CPU state, then waits for the destination to verify and commit.
 *
 * Never throws. The source is primary until commit: on any failure or cancel before Committed arrives the
 * guest is resumed with its memory untouched and the report says why. After Committed the guest's workers
 * are stopped here; the destination runs it.
 */
export async function migrateGuest(guest: Guest, options: MigrationOptions): Promise<MigrationReport> {
  const log = options.log ?? silentLogger();
  const started = performance.now();
  const { memory } = guest;
  const policy = {
    downtimeLimitMs: options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS,
    maxRounds: options.maxRounds ?? DEFAULT_MAX_ROUNDS,
  };
  const answerTimeoutMs = options.answerTimeoutMs ?? 30_000;
  const report: MigrationReport = {
    status: 'failed',
    guestId: options.guestId ?? randomUUID(),
    target: `${options.target.host}:${options.target.port}`,
    startedAt: new Date().toISOString(),
    totalTimeMs: 0,
    downtimeMs: null,
    setupTimeMs: 0,
    switchoverReason: null,
    rounds: [],
    pagesSent: { zero: 0, sameByte: 0, lz4: 0, raw: 0 },
    bytesOnWire: 0,
    imageBytes: 0,
    memoryBytes: memory.memoryBytes,
    sourceDigest: null,
    guestOpsAtPark: null,
  };
  const checkCancelled = (): void => {
    if (options.signal?.aborted) throw new CancelledError('migration cancelled at the source');
  };
  let connection: FramedSocket | undefined;
  let sender: PageSender | undefined;
  let committed = false;
  try {
    checkCancelled();
    const socket = await connectTcp(options.target, options.connectTimeoutMs ?? 10_000);
    connection = new FramedSocket(socket, { idleTimeoutMs: options.idleTimeoutMs ?? 30_000 });
    const conn = connection;
    log.info({ target: report.target, guestId: report.guestId }, 'connected, sending hello');

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
        ...(options.token === undefined ? {} : { token: options.token }),
      }),
    );
    const answer = await conn.receive(answerTimeoutMs, 'Accept or Refuse');
    if (answer.type === FrameType.Refuse) {
      throw new RefusedError(`destination refused the guest: ${answer.message.message} (${answer.message.code})`);
    }
    expectFrame(answer, FrameType.Accept, 'handshake');
    report.setupTimeMs = performance.now() - started;
    log.info({ setupTimeMs: round1(report.setupTimeMs) }, 'destination reserved the guest');

    // Phase 3: iterative pre-copy. Round 1 sends every page ever written; never-written pages are zero.
    const checksums = new PageChecksums(memory.pageCount);
    sender = new PageSender(conn, memory, checksums, checkCancelled);
    memory.harvestDirty();
    let pages = memory.touchedPages();
    let round = 1;
    let movedBytes = 0;
    let movedMs = 0;
    for (;;) {
      checkCancelled();
      const sent = await sendRound(conn, sender, round, pages);
      movedBytes += pages.length * PAGE_SIZE;
      movedMs += sent.ms;
      const dirty = memory.dirtyCount();
      const decision = decideSwitchover(
        { round, remainingDirtyPages: dirty, bandwidthBytesPerMs: movedBytes / Math.max(movedMs, 0.001) },
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
    const sent = await sendRound(conn, sender, round, pages);
    const cpuState = guest.cpuState();
    await conn.send(encodeCpuState({ registers: cpuState }));
    report.sourceDigest = checksums.digest(cpuState);
    await conn.send(encodeComplete({ digest: report.sourceDigest, pagesSent: sender.pagesSent }));
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
    conn.close();
    report.status = 'completed';
  } catch (error) {
    report.error = errorSummary(error);
    if (committed) {
      // The guest belongs to the destination now; nothing to undo here.
      report.status = 'completed';
    } else {
      report.status = error instanceof CancelledError ? 'cancelled' : 'failed';
      connection?.abort(error instanceof Error ? error : new Error(String(error)));
      guest.resume();
      log.warn({ err: report.error }, 'migration did not complete; the guest keeps running here');
    }
  } finally {
    report.totalTimeMs = round1(performance.now() - started);
    if (sender) {
      report.pagesSent = { ...sender.pagesByEncoding };
      report.imageBytes = sender.pagesSent * PAGE_SIZE;
    }
    report.bytesOnWire = connection?.bytesSent ?? 0;
  }
  return report;
}

async function sendRound(
  conn: FramedSocket,
  sender: PageSender,
  round: number,
  pages: Uint32Array,
): Promise<{ ms: number; bytes: number }> {
  const start = performance.now();
  const bytesBefore = conn.bytesSent;
  await conn.send(encodeRoundBegin({ round, pages: pages.length }));
  await sender.send(pages);
  await conn.send(encodeRoundEnd({ round, pages: pages.length }));
  return { ms: performance.now() - start, bytes: conn.bytesSent - bytesBefore };
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
