import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { CancelledError, type PageChecksums } from '@livemig/protocol';
import type { Guest } from '@livemig/guest';
import { DEFAULT_IDLE_TIMEOUT_MS, PLAINTEXT, silentLogger, type FramedSocket, type Logger, type TransportSecurity } from '@livemig/agent-runtime';
import { AutoConverge } from '../auto-converge.js';
import type { ChannelSenders } from '../channel-senders.js';
import { SharedRateLimiter } from '../rate-limiter.js';
import { emptyReport, type MigrationReport } from '../report.js';
import { PageCost, type SentHistory, type SwitchoverCost } from '../switchover/index.js';
import { LiveStats } from './live-stats.js';
import type { MigrationEvents } from './migration.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STREAMS, initialParameters, type MigrationMode, type MigrationOptions } from './options.js';
import type { MigrationParameters } from './parameters.js';
import type { MigrationPhase } from './phases.js';
import type { SentRound } from './rounds.js';
import { WorkingSetFramework } from '../working-set/working-set-framework.js';
import { BalloonFilter } from './balloon.js';
import { DirectSends } from './direct-sends.js';
import { ResumeRequests } from '../postcopy/resume-requests.js';
import { hasGuestKernel, SoftPageFilter } from './soft-pages.js';
import type { RoundAcks } from './round-acks.js';

/**
 * What the phases of one outgoing migration share: its guest, options, parameters and report, the
 * connections as they are opened, the round counters the live statistics read, and cancellation. Each phase
 * function (handshake.ts ... activation.ts) takes it and leaves in it what the next phases need.
 */
export class MigrationContext {
  readonly id = randomUUID();
  /** Connect to commit, and every other time in the report, is measured from here. */
  readonly started = performance.now();
  /** This process's CPU time when the migration started (the report's cpuMs counts from here). */
  readonly cpuAtStart = process.cpuUsage();
  readonly log: Logger;
  readonly params: MigrationParameters;
  readonly limiter: SharedRateLimiter;
  readonly autoConverge = new AutoConverge();
  readonly report: MigrationReport;
  readonly stats: LiveStats;
  /** Data channels this migration opens (the `streams` option). */
  readonly channelCount: number;
  readonly connectTimeoutMs: number;
  /** How every connection of this migration is secured (control, data channels, outcome queries). */
  readonly security: TransportSecurity;
  /** How long to wait for Committed, Activated and Outcome: the answers whose loss the outcome query handles. */
  readonly answerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** A paused guest is migrated paused and stays paused wherever it ends up (QEMU keeps the run state too). */
  readonly wasRunning: boolean;
  /** Zaw and Thein's framework, with the `workingSetPages` option; undefined: plain pre-copy. */
  workingSet: WorkingSetFramework | undefined;
  readonly mode: MigrationMode;
  phase: MigrationPhase = 'handshake';

  /** The control connection, from the handshake on. */
  connection: FramedSocket | undefined;
  /** The channel threads as spawned (or handed in), from the handshake on; `channels` once they are ready. */
  spawned: Promise<ChannelSenders> | undefined;
  channels: ChannelSenders | undefined;

  /** Rounds begun, the stop-and-copy round included (what the round reports and Complete count). */
  round = 0;
  /** Pages of the round in flight (0 between rounds). */
  roundPages = 0;
  /** Pages of every round already sent in full. */
  pagesBeforeRound = 0;
  /** Set once Committed carried the right digest: from then on the guest belongs to the destination. */
  committed = false;
  /**
   * Set once PostcopyRun is being written: the guest's state is split between the hosts, and this side never
   * resumes its vCPUs again (outcome.ts).
   */
  switched = false;
  /** hybrid: the operator asked for post-copy (POST /migrations/:id/postcopy); taken after the round in flight. */
  postcopyRequested = false;
  /** Post-copy: the urgent connection (page requests in, answers out). */
  urgent: FramedSocket | undefined;
  /** Post-copy paused: how it learns where to reconnect (the operator's resume, or the automatic retries). */
  readonly resumeRequests = new ResumeRequests();
  /** Automatic recovery attempts made so far (at most `postcopyRetries`). */
  automaticResumes = 0;
  /** Set when the operator discarded the paused copy: the guest is stopped here, not kept parked. */
  postcopyDiscarded = false;
  /** Reservation, post-copy only: where the urgent connection goes, and the reservation it serves. */
  postcopyTarget: { host: string; port: number; reservationId: string } | undefined;

  // Handed from one phase to the next; each is set by the phase named before any later phase reads it.
  /** Reservation: per-page CRCs of what the channels send; Complete's digest is taken over them. */
  checksums!: PageChecksums;
  /** Reservation: the destination agreed to direct-pages-v2 (PageBatchDirect on the channels, repair at commit). */
  directPages = false;
  /** Reservation: the destination agreed to round-ack-v1 (pre-copy only): the source's lead is bounded (round-acks.ts). */
  roundAcks: RoundAcks | undefined;
  /** Reservation: the switchover's fixed cost, measured from Hello -> Accept on. */
  switchoverCost!: SwitchoverCost;
  /** What a dirty page adds to the final round, measured on the pre-copy rounds (PageCost). */
  readonly pageCost = new PageCost();
  /** Pre-copy: which pages the round before sent (for `pagesResent`). */
  history!: SentHistory;
  /** Stop-and-copy: when the vCPUs were told to park; both downtimes start here. */
  parkedAt = 0;
  /** Stop-and-copy: the final round, reported once Complete is out. */
  finalRound!: { pages: Uint32Array; sent: SentRound };
  /** Stop-and-copy: the register files sent and the nonce Complete carried; Committed's proof covers both. */
  cpuState!: readonly Uint8Array[];
  commitNonce!: string;
  /** With `softPages`: the round filter and the pre-suspend interrupt (soft-pages.ts). */
  softPages: SoftPageFilter | undefined;
  /** With `balloon`: the balloon's inflation and round filter (balloon.ts). */
  balloon: BalloonFilter | undefined;
  /** With either filter: the pages pre-copy may have sent directly, which the filters never skip (direct-sends.ts). */
  directSends: DirectSends | undefined;
  /** Commit or activation: the error that lost the destination's answer, when the outcome had to be asked for. */
  outcomeCause: unknown;

  private readonly abortController = new AbortController();
  private readonly cancelled: Promise<never>;
  #guest: Guest | undefined;

  constructor(
    /** The public Migration: every event of the migration is emitted on it. */
    readonly events: EventEmitter<MigrationEvents>,
    guest: Guest,
    readonly options: MigrationOptions,
  ) {
    this.#guest = guest;
    this.log = options.log ?? silentLogger();
    this.params = initialParameters(options);
    this.limiter = SharedRateLimiter.create(this.params.maxBandwidthBytesPerSec);
    this.channelCount = options.streams ?? DEFAULT_STREAMS;
    this.report = emptyReport({
      status: 'failed',
      guestId: options.guestId ?? randomUUID(),
      target: `${options.target.host}:${options.target.port}`,
      policy: this.params.policy,
      streams: this.channelCount,
      memoryBytes: guest.memory.memoryBytes,
      guestOpsAtStart: guest.opsDone(),
      peakRssBytes: 0,
    });
    this.report.migrationId = this.id;
    this.stats = new LiveStats(this);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.security = options.security ?? PLAINTEXT;
    this.answerTimeoutMs = options.answerTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.wasRunning = !guest.parked;
    const wsPages = options.workingSetPages ?? 0;
    this.workingSet = wsPages > 0 ? new WorkingSetFramework(guest.memory, wsPages) : undefined;
    this.mode = options.mode ?? 'precopy';
    const filtered = (options.softPages === true || options.balloon === true) && hasGuestKernel(guest);
    this.directSends = filtered ? new DirectSends(guest.memory.pageCount) : undefined;
    this.softPages = options.softPages && hasGuestKernel(guest) ? new SoftPageFilter(guest, this.log, this.directSends) : undefined;
    if (this.softPages) this.report.softPages = this.softPages.report;
    this.balloon = options.balloon && hasGuestKernel(guest) ? new BalloonFilter(guest, this.log, this.directSends) : undefined;
    if (this.balloon) this.report.balloon = this.balloon.report;
    this.cancelled = new Promise<never>((_, reject) => {
      this.abortController.signal.addEventListener('abort', () => reject(this.abortController.signal.reason), { once: true });
    });
    this.cancelled.catch(() => {});
  }

  /**
   * The guest this migration moves.
   * @throws Error once the migration completed and let it go (releaseGuest): nothing reads it then
   */
  get guest(): Guest {
    if (this.#guest === undefined) throw new Error(`migration ${this.id} completed: its guest runs at the destination, and none of it is kept here`);
    return this.#guest;
  }

  /**
   * After a completed migration the guest runs at the destination: every reference to it (and to what sees its
   * memory: the filters, the working set) is dropped, so an agent that keeps the migration in its history (the
   * control API's GET /migrations) does not keep the guest's memory with it.
   */
  releaseGuest(): void {
    this.#guest = undefined;
    this.softPages = undefined;
    this.balloon = undefined;
    this.directSends = undefined;
    this.workingSet = undefined;
  }

  /**
   * The control connection.
   * @throws Error when a phase before the handshake asks for it (a bug in the state machine)
   */
  get control(): FramedSocket {
    if (!this.connection) throw new Error('no control connection: the handshake has not opened it');
    return this.connection;
  }

  /**
   * The channel threads as spawned at the handshake, ready or not.
   * @throws Error when a phase before the handshake asks for them (a bug in the state machine)
   */
  get channelThreads(): Promise<ChannelSenders> {
    if (!this.spawned) throw new Error('no channel threads: the handshake has not spawned them');
    return this.spawned;
  }

  /**
   * The data channels' threads, started.
   * @throws Error when a phase before the reservation asks for them (a bug in the state machine)
   */
  get dataChannels(): ChannelSenders {
    if (!this.channels) throw new Error('no data channels: the reservation has not started them');
    return this.channels;
  }

  parameters(): MigrationParameters {
    return { ...this.params };
  }

  /** Enters `phase` and announces it (`phase` event, debug log). */
  enter(phase: MigrationPhase): void {
    this.phase = phase;
    this.log.debug({ phase }, 'migration phase');
    this.events.emit('phase', phase, this.stats.snapshot());
  }

  /**
   * The point of no return: Complete is about to go out, so from now on the destination decides and cancel
   * is refused. The phase becomes `commit` at once, and is announced by the commit phase once Complete is out.
   */
  passPointOfNoReturn(): void {
    this.phase = 'commit';
  }

  setThrottle(percent: number): void {
    this.guest.setThrottle(percent);
    this.events.emit('throttle', percent);
  }

  /** Cancels with a CancelledError unless already cancelled; every guarded wait rejects with it at once. */
  abort(reason: string): void {
    if (!this.abortController.signal.aborted) this.abortController.abort(new CancelledError(reason));
  }

  /** Resolves with `promise`, or rejects with the cancel's CancelledError as soon as abort() is called. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.cancelled]);
  }

  /** @throws CancelledError once abort() has been called */
  checkCancelled(): void {
    if (this.abortController.signal.aborted) throw this.abortController.signal.reason;
  }
}
