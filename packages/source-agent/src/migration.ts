import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  BadArgumentError,
  CAPABILITIES,
  CAPABILITY_LZ4_RUNS,
  CancelledError,
  HandshakeError,
  MAX_CHANNELS,
  DigestMismatchError,
  FrameType,
  PAGE_SIZE,
  PageChecksums,
  PROTOCOL_VERSION,
  RefusedError,
  UnexpectedFrameError,
  encodeComplete,
  encodeCpuState,
  encodeHello,
  newCommitNonce,
  frameTypeName,
  type Frame,
} from '@livemig/protocol';
import { dirtyLogEnabled, type Guest } from '@livemig/guest';
import { AutoConverge } from './auto-converge.js';
import { BandwidthMeter } from './bandwidth-meter.js';
import { DEFAULT_IDLE_TIMEOUT_MS, FramedSocket, connectTcp, errorSummary, silentLogger, type HostPort, type Logger } from '@livemig/agent-runtime';
import { ChannelSenders } from './channel-senders.js';
import {
  isCancellable,
  isFinalPhase,
  type MigrationParameters,
  type MigrationPhase,
  type MigrationStats,
} from './migration-stats.js';
import { SharedRateLimiter } from './rate-limiter.js';
import { ENCODING_NAMES, emptyReport, type MigrationReport, type RoundReport } from './report.js';
import { SentHistory, SwitchoverCost, decide, requirePolicyName, type PolicyName } from './switchover/index.js';

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
  /** Wire bytes per second over all channels during pre-copy (0 or absent: unlimited). */
  maxBandwidthBytesPerSec?: number;
  /** Throttle the vCPUs when they dirty pages faster than pre-copy sends them (QEMU's auto-converge). */
  autoConverge?: boolean;
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
  /** Cancels the migration (as cancel() does: refused once Complete is out). */
  signal?: AbortSignal;
}

export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
export const DEFAULT_MAX_ROUNDS = 30;
export const DEFAULT_STREAMS = 2;
export const DEFAULT_DELTA_CACHE_BYTES = 64 * 1024 * 1024;
/** The protocol's limit on data channels per migration. */
export const MAX_STREAMS = MAX_CHANNELS;
/** How often live statistics are sampled and `progress` is emitted (the control API's `progress` events). */
const STATS_SAMPLE_INTERVAL_MS = 100;

export interface MigrationEvents {
  phase: [phase: MigrationPhase, stats: MigrationStats];
  round: [round: RoundReport];
  progress: [stats: MigrationStats];
  parameters: [parameters: MigrationParameters];
  throttle: [percent: number];
  done: [report: MigrationReport];
}

/**
 * One outgoing live migration: handshake and reservation, iterative pre-copy rounds over the data channels,
 * stop-and-copy with the CPU state, then the destination's commit. Readable while it runs (stats), steerable
 * (setParameters) and cancellable until Complete is out (cancel).
 *
 * `done` never rejects. The source is primary until commit: on any failure or cancel before Committed
 * arrives the guest goes back to what it was doing (running, or paused if it was paused) with its memory
 * untouched and its throttle released, and the report says why. After Committed the guest's workers are
 * stopped here; the destination runs it.
 */
export class Migration extends EventEmitter<MigrationEvents> {
  readonly id = randomUUID();
  readonly guestId: string;
  readonly target: string;
  readonly done: Promise<MigrationReport>;
  private currentPhase: MigrationPhase = 'handshake';
  private readonly params: MigrationParameters;
  private readonly abortController = new AbortController();
  private readonly cancelled: Promise<never>;
  private readonly limiter: SharedRateLimiter;
  private readonly autoConverge = new AutoConverge();
  private readonly report: MigrationReport;
  private readonly started = performance.now();
  private readonly wireMeter = new BandwidthMeter();
  private readonly pageMeter = new BandwidthMeter();
  private connection: FramedSocket | undefined;
  private channels: ChannelSenders | undefined;
  private round = 0;
  private roundPages = 0;
  private pagesBeforeRound = 0;
  private progressFloor = 0;
  private finalReport: MigrationReport | undefined;

  constructor(
    private readonly guest: Guest,
    private readonly options: MigrationOptions,
  ) {
    super();
    this.guestId = options.guestId ?? randomUUID();
    this.target = `${options.target.host}:${options.target.port}`;
    this.params = {
      policy: options.policy ?? 'downtime',
      downtimeLimitMs: options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS,
      maxRounds: options.maxRounds ?? DEFAULT_MAX_ROUNDS,
      maxTimeMs: options.maxTimeMs ?? Number.POSITIVE_INFINITY,
      maxBandwidthBytesPerSec: options.maxBandwidthBytesPerSec ?? 0,
      autoConverge: options.autoConverge ?? false,
    };
    this.limiter = SharedRateLimiter.create(this.params.maxBandwidthBytesPerSec);
    this.report = emptyReport({
      status: 'failed',
      guestId: this.guestId,
      target: this.target,
      policy: this.params.policy,
      streams: options.streams ?? DEFAULT_STREAMS,
      memoryBytes: guest.memory.memoryBytes,
      guestOpsAtStart: guest.opsDone(),
      peakRssBytes: 0,
    });
    this.report.migrationId = this.id;
    this.cancelled = new Promise<never>((_, reject) => {
      this.abortController.signal.addEventListener('abort', () => reject(this.abortController.signal.reason), { once: true });
    });
    this.cancelled.catch(() => {});
    if (options.signal) {
      if (options.signal.aborted) this.cancel();
      else options.signal.addEventListener('abort', () => this.cancel(), { once: true });
    }
    this.done = this.run();
  }

  /** The report, once the migration is over. */
  get result(): MigrationReport | undefined {
    return this.finalReport;
  }

  get phase(): MigrationPhase {
    return this.currentPhase;
  }

  parameters(): MigrationParameters {
    return { ...this.params };
  }

  /**
   * Cancels the migration if it has not sent Complete yet; the source's guest carries on. Returns false when
   * it is too late (commit or later) or already over.
   */
  cancel(reason = 'migration cancelled at the source'): boolean {
    if (!isCancellable(this.currentPhase)) return false;
    if (!this.abortController.signal.aborted) this.abortController.abort(new CancelledError(reason));
    return true;
  }

  /**
   * Changes parameters of a running migration; they apply from the next decision (policy, limits) or the
   * next frame (bandwidth). @throws BadArgumentError for a value out of range
   */
  setParameters(changes: Partial<MigrationParameters>): MigrationParameters {
    const next = { ...this.params, ...changes };
    checkParameters(next);
    Object.assign(this.params, next);
    this.limiter.setRate(this.currentPhase === 'stop-and-copy' ? 0 : next.maxBandwidthBytesPerSec);
    if (!next.autoConverge && this.autoConverge.throttlePercent > 0) this.setThrottle(0);
    this.options.log?.info({ parameters: this.params }, 'migration parameters changed');
    this.emit('parameters', this.parameters());
    return this.parameters();
  }

  stats(): MigrationStats {
    const final = isFinalPhase(this.currentPhase);
    const { report } = this;
    const pagesTransferred = this.pagesTransferred;
    let remainingPages = 0;
    if (!final && this.round > 0) {
      remainingPages = Math.max(0, this.roundPages - (this.channels?.roundPagesSent ?? 0)) + this.guest.memory.dirtyCount();
    }
    const lastPreCopy = report.rounds.findLast((round) => !round.final);
    const pageRate = this.pageMeter.rate();
    // Monotonic: pages dirtied meanwhile grow the work left, but the bar never moves back.
    if (this.currentPhase === 'completed') this.progressFloor = 100;
    else if (this.round > 0) {
      const estimate = (100 * pagesTransferred) / Math.max(1, pagesTransferred + remainingPages);
      this.progressFloor = Math.max(this.progressFloor, Math.min(99.9, estimate));
    }
    return {
      id: this.id,
      guestId: this.guestId,
      target: this.target,
      phase: this.currentPhase,
      round: this.round,
      transferredBytes: this.bytesOnWire,
      remainingBytes: remainingPages * PAGE_SIZE,
      totalBytes: this.guest.memory.memoryBytes,
      pagesTransferredBytes: pagesTransferred * PAGE_SIZE,
      pagesTransferred,
      pagesByEncoding: this.encodingCounts().pages,
      dirtyPagesRate: lastPreCopy && lastPreCopy.ms > 0 ? Math.round((lastPreCopy.pagesDirtiedMeanwhile * 1000) / lastPreCopy.ms) : 0,
      bandwidthBytesPerSec: Math.round(this.wireMeter.rate() * 1000),
      pagesPerSecond: Math.round((pageRate * 1000) / PAGE_SIZE),
      expectedDowntimeMs: final ? null : (lastPreCopy?.expectedDowntimeMs ?? null),
      progressPercent: round1(this.progressFloor),
      throttlePercent: this.autoConverge.throttlePercent,
      setupTimeMs: report.setupTimeMs || null,
      elapsedMs: final ? report.totalTimeMs : round1(performance.now() - this.started),
      downtimeMs: report.downtimeMs,
      sourceDowntimeMs: report.sourceDowntimeMs,
      switchoverReason: report.switchoverReason,
      parameters: this.parameters(),
      error: report.error ?? null,
    };
  }

  private setPhase(phase: MigrationPhase): void {
    this.currentPhase = phase;
    this.options.log?.debug({ phase }, 'migration phase');
    this.emit('phase', phase, this.stats());
  }

  private setThrottle(percent: number): void {
    this.guest.setThrottle(percent);
    this.emit('throttle', percent);
  }

  /** Resolves with `promise`, or rejects with the cancel's CancelledError as soon as cancel() is called. */
  private guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.cancelled]);
  }

  private checkCancelled(): void {
    if (this.abortController.signal.aborted) throw this.abortController.signal.reason;
  }

  /** Bytes written to the destination so far, control and data connections. */
  private get bytesOnWire(): number {
    return (this.connection?.bytesSent ?? 0) + (this.channels?.bytesSent ?? 0);
  }

  /** Pages sent so far, the round in flight included (as of the channels' last progress reports). */
  private get pagesTransferred(): number {
    return this.pagesBeforeRound + (this.channels?.roundPagesSent ?? 0);
  }

  private sample(): void {
    const now = performance.now();
    this.wireMeter.sample(now, this.bytesOnWire);
    this.pageMeter.sample(now, this.pagesTransferred * PAGE_SIZE);
  }

  private encodingCounts(): { pages: MigrationReport['pagesSent']; bytes: MigrationReport['bytesByEncoding'] } {
    const pages = { ...this.report.pagesSent };
    const bytes = { ...this.report.bytesByEncoding };
    if (this.channels) {
      const stats = this.channels.stats();
      for (const name of ENCODING_NAMES) {
        pages[name] = stats.pages[name] ?? 0;
        bytes[name] = stats.bytes[name] ?? 0;
      }
    }
    return { pages, bytes };
  }

  /** Adds the round just sent to the report, the log and the listeners. */
  private recordRound(
    round: {
      final: boolean;
      pagesSent: number;
      pagesResent: number;
      sent: { ms: number; bytes: number };
      pagesDirtiedMeanwhile: number;
      expectedDowntimeMs: number;
      switchoverCostMs: number;
    },
    message: string,
  ): void {
    const entry: RoundReport = {
      round: this.round,
      final: round.final,
      pagesSent: round.pagesSent,
      pagesResent: round.pagesResent,
      bytesOnWire: round.sent.bytes,
      ms: round1(round.sent.ms),
      pagesDirtiedMeanwhile: round.pagesDirtiedMeanwhile,
      expectedDowntimeMs: round1(round.expectedDowntimeMs),
      switchoverCostMs: round1(round.switchoverCostMs),
      bandwidthBytesPerSec: Math.round(this.wireMeter.rate() * 1000),
      throttlePercent: this.autoConverge.throttlePercent,
    };
    this.report.rounds.push(entry);
    this.options.log?.info(entry, message);
    this.options.onRound?.(entry);
    this.emit('round', entry);
  }

  private async run(): Promise<MigrationReport> {
    const { guest, options, report, params } = this;
    const log = options.log ?? silentLogger();
    const { memory } = guest;
    const streams = report.streams;
    const answerTimeoutMs = options.answerTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    // A paused guest is migrated paused and stays paused wherever it ends up (QEMU keeps the run state too).
    const wasRunning = !guest.parked;
    let spawned: Promise<ChannelSenders> | undefined;
    let committed = false;
    const ticker = setInterval(() => {
      this.sample();
      this.emit('progress', this.stats());
    }, STATS_SAMPLE_INTERVAL_MS);
    ticker.unref();
    // Let the caller subscribe before the first phase event.
    await Promise.resolve();
    try {
      checkParameters(params);
      if (!dirtyLogEnabled(guest.workload)) {
        throw new BadArgumentError('the guest runs with dirty logging off (dirtyLog 0): its writes cannot be tracked, so it cannot be live-migrated');
      }
      checkStreams(streams);
      this.setPhase('handshake');
      this.checkCancelled();
      // Worker threads take ~100 ms to start: let them start while we connect and negotiate.
      spawned = options.channels ?? ChannelSenders.spawn(streams);
      spawned.catch(() => {});
      const socket = await this.guard(connectTcp(options.target, options.connectTimeoutMs ?? 10_000));
      this.connection = new FramedSocket(socket, { idleTimeoutMs });
      const conn = this.connection;
      log.info({ target: report.target, guestId: report.guestId, migrationId: this.id, streams }, 'connected, sending hello');

      // Phase 1-2: handshake and reservation.
      await this.guard(
        conn.send(
          encodeHello({
            protocolVersion: PROTOCOL_VERSION,
            capabilities: [...CAPABILITIES],
            guestId: report.guestId,
            migrationId: this.id,
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
        ),
      );
      this.setPhase('reservation');
      const helloSentAt = performance.now();
      const answer = await this.guard(conn.receive(answerTimeoutMs, 'Accept or Refuse'));
      const switchoverCost = new SwitchoverCost(performance.now() - helloSentAt);
      if (answer.type === FrameType.Refuse) {
        throw new RefusedError(`destination refused the guest: ${answer.message.message} (${answer.message.code})`);
      }
      expectFrame(answer, FrameType.Accept, 'handshake');
      const ports = answer.message.channelPorts;
      if (ports.length !== streams) {
        throw new HandshakeError(`destination opened ${ports.length} data channels, ${streams} were asked for`);
      }
      const checksums = PageChecksums.create(memory.pageCount);
      this.channels = await this.guard(spawned);
      const channels = this.channels;
      if (channels.count !== streams) throw new Error(`${channels.count} channel workers prepared for ${streams} streams`);
      // The channels connect while round 1 is handed out: a channel that cannot connect fails round 1.
      channels.start({
        host: options.target.host,
        ports,
        reservationId: answer.message.reservationId,
        memory,
        checksums,
        deltaCacheBytes: options.deltaCacheBytes ?? DEFAULT_DELTA_CACHE_BYTES,
        idleTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        rateLimit: this.limiter.buffer,
        lz4Runs: answer.message.capabilities.includes(CAPABILITY_LZ4_RUNS),
      });
      // Page data now flows on the channels; the control connection may stay silent for a whole pre-copy.
      conn.keepAliveWhileSilent();
      report.setupTimeMs = round1(performance.now() - this.started);
      log.info({ setupTimeMs: report.setupTimeMs }, 'destination reserved the guest, data channels opening');

      // Phase 3: iterative pre-copy. Round 1 sends every page ever written; never-written pages are zero.
      const send = async (pages: Uint32Array, final = false): Promise<{ ms: number; bytes: number }> => {
        this.checkCancelled();
        // The control connection is silent during pre-copy; a cut or an Abort on it ends the migration here.
        if (conn.error) throw conn.error;
        const start = performance.now();
        const bytesBefore = channels.bytesSent;
        this.roundPages = pages.length;
        await this.guard(channels.sendRound(this.round, pages, final));
        this.pagesBeforeRound += pages.length;
        this.roundPages = 0;
        this.sample();
        // Round 1 also waited for the data channels to open: it is timed from when they had (and it was posted).
        const from = this.round === 1 ? Math.max(start, channels.openedAt - performance.timeOrigin) : start;
        return { ms: performance.now() - from, bytes: channels.bytesSent - bytesBefore };
      };
      this.setPhase('pre-copy');
      memory.harvestDirty();
      let pages = memory.touchedPages();
      let movedBytes = 0;
      let movedMs = 0;
      const history = new SentHistory(memory.pageCount);
      const dirtyHistory: number[] = [];
      this.sample();
      // A paused guest dirties nothing: one round is the whole image, then stop-and-copy finds nothing new.
      for (;;) {
        this.round += 1;
        const sent = await send(pages);
        movedBytes += pages.length * PAGE_SIZE;
        movedMs += sent.ms;
        const dirty = memory.dirtyCount();
        dirtyHistory.push(dirty);
        // Short-window bandwidth (QEMU), falling back to the whole pre-copy's while the window is empty.
        const windowRate = this.pageMeter.rate();
        const bandwidthBytesPerMs = windowRate > 0 ? windowRate : movedBytes / Math.max(movedMs, 0.001);
        const pagesResent = history.record(pages);
        switchoverCost.observeRound(pages.length, sent.ms, bandwidthBytesPerMs);
        const decision = decide(
          {
            round: this.round,
            pagesSent: pages.length,
            pagesResent,
            dirtyPages: dirty,
            dirtyHistory,
            roundMs: sent.ms,
            bandwidthBytesPerMs,
            switchoverCostMs: switchoverCost.ms,
            elapsedMs: performance.now() - this.started,
          },
          params,
        );
        if (params.autoConverge) {
          const level = this.autoConverge.observe(dirty * PAGE_SIZE, sent.bytes);
          if (level !== undefined) {
            this.setThrottle(level);
            log.info({ throttlePercent: level, round: this.round }, 'auto-converge: vCPUs throttled');
          }
        }
        this.recordRound(
          { final: false, pagesSent: pages.length, pagesResent, sent, pagesDirtiedMeanwhile: dirty, expectedDowntimeMs: decision.expectedDowntimeMs, switchoverCostMs: switchoverCost.ms },
          'pre-copy round sent',
        );
        if (decision.switchover) {
          report.switchoverReason = decision.reason;
          break;
        }
        this.checkCancelled();
        pages = memory.harvestDirty();
      }

      // Phase 4: stop-and-copy. Downtime starts when the vCPUs park.
      this.checkCancelled();
      // With the guest parked, a slower send only lengthens the downtime: the bandwidth limit is lifted.
      this.limiter.setRate(0);
      this.setPhase('stop-and-copy');
      const parkedAt = performance.now();
      report.timeToParkMs = round1(parkedAt - this.started);
      await this.guard(guest.park());
      report.guestOpsAtPark = guest.opsDone();
      pages = memory.harvestDirty();
      this.round += 1;
      const sent = await send(pages, true);
      const cpuState = guest.cpuState();
      await this.guard(conn.send(encodeCpuState({ registers: cpuState, running: wasRunning })));
      report.sourceDigest = checksums.digest(cpuState);
      this.checkCancelled();
      // From here on the destination decides: cancel is refused.
      this.currentPhase = 'commit';
      await conn.send(encodeComplete({ digest: report.sourceDigest, pagesSent: this.pagesBeforeRound, rounds: this.round, nonce: newCommitNonce() }));
      report.sourceDowntimeMs = round1(performance.now() - parkedAt);
      this.setPhase('commit');
      this.recordRound(
        { final: true, pagesSent: pages.length, pagesResent: history.record(pages), sent, pagesDirtiedMeanwhile: 0, expectedDowntimeMs: 0, switchoverCostMs: 0 },
        'stop-and-copy sent, waiting for the destination to commit',
      );

      // Phase 5: commitment.
      const verdict = await conn.receive(answerTimeoutMs, 'Committed');
      expectFrame(verdict, FrameType.Committed, 'commit');
      if (verdict.message.digest !== report.sourceDigest) {
        throw new DigestMismatchError(`destination committed digest ${verdict.message.digest}, expected ${report.sourceDigest}`);
      }
      committed = true;
      report.timeToCommitMs = round1(performance.now() - this.started);
      this.setPhase('activation');
      // Phase 6: activation at the destination ends the downtime. The parked workers here are stopped only
      // after its notice is read: stopping threads keeps this thread busy, and would be counted as downtime.
      try {
        const activated = await conn.receive(answerTimeoutMs, 'Activated');
        expectFrame(activated, FrameType.Activated, 'activation');
        report.downtimeMs = round1(performance.now() - parkedAt);
      } catch (error) {
        log.warn({ err: errorSummary(error) }, 'committed, but no activation notice from the destination');
      }
      await guest.stop();
      log.info('destination committed and activated; guest released at the source');
      await channels.finish().catch(() => channels.terminate());
      conn.close();
      report.status = 'completed';
    } catch (error) {
      report.error = errorSummary(error);
      if (committed) {
        // The guest belongs to the destination now: its parked workers here only have to go.
        report.status = 'completed';
        void guest.stop();
      } else {
        report.status = error instanceof CancelledError ? 'cancelled' : 'failed';
        this.channels?.terminate();
        void spawned?.then((unused) => unused.terminate(), () => {});
        this.connection?.abort(error instanceof Error ? error : new Error(String(error)));
        if (wasRunning) guest.resume();
        log.warn({ err: report.error }, 'migration did not complete; the guest stays here as it was');
      }
    } finally {
      clearInterval(ticker);
      // Released however the migration ended: a throttle must never outlive it (QEMU does the same).
      if (this.autoConverge.throttlePercent > 0) {
        report.throttlePercent = this.autoConverge.throttlePercent;
        this.setThrottle(0);
      }
      report.totalTimeMs = round1(performance.now() - this.started);
      const counts = this.encodingCounts();
      report.pagesSent = counts.pages;
      report.bytesByEncoding = counts.bytes;
      report.deltaCacheHits = this.channels?.deltaHits ?? 0;
      report.imageBytes = this.pagesBeforeRound * PAGE_SIZE;
      report.bytesOnWire = this.bytesOnWire;
      report.peakRssBytes = process.resourceUsage().maxRSS * 1024;
      report.parameters = this.parameters();
    }
    this.finalReport = report;
    this.setPhase(report.status === 'completed' ? 'completed' : report.status === 'cancelled' ? 'cancelled' : 'failed');
    this.emit('done', report);
    return report;
  }
}

/** Starts a migration; `migration.done` resolves with its report (never rejects). */
export function startMigration(guest: Guest, options: MigrationOptions): Migration {
  return new Migration(guest, options);
}

/** @throws BadArgumentError unless `streams` is a data-channel count this agent supports */
export function checkStreams(streams: number): void {
  if (!Number.isInteger(streams) || streams < 1 || streams > MAX_STREAMS) {
    throw new BadArgumentError(`--streams: expected 1..${MAX_STREAMS}, got ${streams}`);
  }
}

/** @throws BadArgumentError naming the first parameter out of range */
export function checkParameters(p: MigrationParameters): void {
  requirePolicyName(p.policy, 'policy');
  if (!(p.downtimeLimitMs >= 0) || !Number.isFinite(p.downtimeLimitMs)) {
    throw new BadArgumentError(`downtime limit: expected a duration >= 0, got ${p.downtimeLimitMs}`);
  }
  if (!Number.isInteger(p.maxRounds) || p.maxRounds < 1) {
    throw new BadArgumentError(`max rounds: expected a positive integer, got ${p.maxRounds}`);
  }
  if (!(p.maxTimeMs > 0)) throw new BadArgumentError(`max time: expected a duration > 0, got ${p.maxTimeMs}`);
  if (!(p.maxBandwidthBytesPerSec >= 0) || !Number.isFinite(p.maxBandwidthBytesPerSec)) {
    throw new BadArgumentError(`max bandwidth: expected bytes per second >= 0, got ${p.maxBandwidthBytesPerSec}`);
  }
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
