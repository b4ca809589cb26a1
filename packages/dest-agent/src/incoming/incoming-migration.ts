import { BadMessageError, CAPABILITY_DIRECT_PAGES, CAPABILITY_ROUND_ACK, FrameType, MigrationError, OutcomeDecidedError, type Frame, type HelloMessage } from '@livemig/protocol';
import { GuestError, type Guest, type SlotAllocator, type WorkloadSpec } from '@livemig/guest';
import type { VcpuPool } from '../vcpu-pool.js';
import { DEFAULT_IDLE_TIMEOUT_MS, errorSummary, formatBytes, markStep, type FramedSocket, type Logger, type TransportSecurity } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { CommitJournal } from '../commit-journal.js';
import type { IncomingReport } from '../incoming-report.js';
import type { ReceiverPool } from '../receiver-pool.js';
import type { MemoryReservations, Reservation } from '../reservations.js';
import { activateGuest, sendActivated } from './activation.js';
import { commit } from './commit.js';
import { checkGuestDisk, checkHello, readHello, sendRefuse } from './handshake.js';
import type { IncomingRecord } from './incoming-record.js';
import type { ConfirmDecision, ParkedGuests } from './parked-guests.js';
import { receiveUntilComplete, type ReceivedState } from './receive.js';
import { FaultRequests } from '../postcopy/fault-requests.js';
import type { PausedPostcopies } from '../postcopy/paused-postcopies.js';
import { postcopyUntilDone, stopAndWait, type PauseContext } from '../postcopy/recovery.js';
import { UrgentListener } from '../postcopy/urgent-connection.js';
import { activatePostcopy, postcopyReport, receiveSwitch, type PostcopyDestReport, type PostcopyProgress, type PostcopySwitch } from './post-copy.js';
import { openChannels, reserveMemory, sendAccept, startParkedVcpus, wantsPostcopy, type IncomingImage } from './reservation.js';

export interface IncomingOptions {
  reservations: MemoryReservations;
  /** The virtual disk guests that use one get here (shared storage: the source's path). */
  disk?: string;
  log: Logger;
  /** Warm receiver workers for the data channels, each listening on a port of its own. */
  pool: ReceiverPool;
  /** Warm vCPU workers for the guest. */
  vcpuPool: VcpuPool;
  /** The agent's credentials: post-copy's urgent connection is authenticated like every other. */
  security: TransportSecurity;
  /** Gives the guest's memory slots (pre-faulted ones when the agent has them). */
  allocateSlot: SlotAllocator;
  /** Which migration ids were committed or aborted here: written before Committed and before Abort. */
  journal: CommitJournal;
  /** Committed guests waiting for Confirm, shared with the outcome connections and the operator. */
  parked: ParkedGuests;
  /** Post-copy migrations paused here, waiting for their source's recovery connections. */
  pausedPostcopies: PausedPostcopies;
  /** Migration ids of the migrations in flight here: a second Hello for one of them is refused. */
  inFlight: Set<string>;
  /** A data channel (or, before Accept, the control connection) silent for this long fails. */
  idleTimeoutMs?: number;
  /** Stops a migration's channel threads, off the downtime; the agent's close() waits for them. */
  stopChannels: (channels: ChannelReceivers) => void;
  /** Warms workers for the next migration (the agent knows whether one can still come). */
  refillPools: () => void;
}

/** A guest that arrived, was committed and now runs here. */
export interface ArrivedGuest {
  guest: Guest;
  guestId: string;
  report: IncomingReport;
  /** Release when the guest leaves this host (migrated onward or stopped). */
  reservation: Reservation;
}

/** What the reservation holds for the guest: its memory, the channels filling it, its parked vCPUs. */
interface Reserved extends IncomingImage {
  reservation: Reservation;
  vcpus: Promise<Guest>;
  /** Post-copy agreed: where the source opens the urgent connection. */
  urgent?: UrgentListener;
}

/** The guest as the commit left it: verified, owned by this side, its vCPUs parked. */
interface Committed {
  hello: HelloMessage;
  reserved: Reserved;
  received: ReceivedState;
  receivedDigest: string;
}

/**
 * Runs one incoming migration on its control connection, phase by phase: handshake, reservation, pre-copy and
 * stop-and-copy (rounds on the data channels, the CPU state on the control connection), commitment, activation.
 * Resolves with the guest now running here, or null when the migration failed; the record's report says how
 * it ended, and the failure was logged. Never rejects.
 */
export function receiveMigration(
  conn: FramedSocket,
  firstFrame: Promise<Frame>,
  options: IncomingOptions,
  record: IncomingRecord,
): Promise<ArrivedGuest | null> {
  return new IncomingMigration(conn, firstFrame, options, record).run();
}

/**
 * The state of one incoming migration: what it holds on this host, and the one failure path of each side of
 * the commit point. Each phase records what it takes as it takes it, so a failure gives back exactly that.
 */
class IncomingMigration {
  private readonly idleTimeoutMs: number;
  private reservation: Reservation | undefined;
  private channels: ChannelReceivers | undefined;
  private urgent: UrgentListener | undefined;
  private vcpus: Promise<Guest> | undefined;
  /** A Hello this agent will not serve (handshake or reservation): answered with Refuse, not Abort. */
  private refusal: MigrationError | undefined;
  /** Hello's migration id, once read: what the journal records this attempt's outcome under. */
  private migrationId: string | undefined;
  /** performance.now() when Committed went out. */
  private committedAt = 0;

  constructor(
    private readonly conn: FramedSocket,
    private readonly firstFrame: Promise<Frame>,
    private readonly options: IncomingOptions,
    private readonly record: IncomingRecord,
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  async run(): Promise<ArrivedGuest | null> {
    try {
      return await this.phases();
    } finally {
      if (this.migrationId !== undefined) this.options.inFlight.delete(this.migrationId);
    }
  }

  private async phases(): Promise<ArrivedGuest | null> {
    let committed: Committed;
    try {
      const { hello, workload } = await this.handshake();
      const reserved = await this.reserve(hello, workload);
      let received: ReceivedState;
      if (reserved.urgent) {
        // Post-copy or hybrid: the switch is the commit point, and the guest runs here before its pages have
        // all come. A hybrid migration that ended in stop-and-copy goes on as pre-copy does.
        const ended = await receiveSwitch(this.conn, reserved.channels, hello.geometry, reserved.memory.pageCount);
        if (!('complete' in ended)) return await this.postcopy(hello, reserved, reserved.urgent, ended);
        reserved.urgent.close();
        received = ended;
      } else {
        const acknowledgeRounds = hello.capabilities.includes(CAPABILITY_ROUND_ACK);
        received = await receiveUntilComplete(this.conn, reserved.channels, hello.geometry, reserved.memory.pageCount, acknowledgeRounds);
        markStep('D Complete read');
      }
      const { receivedDigest, journalMs, committedAt, repair } = await commit(this.conn, received, {
        channels: reserved.channels,
        checksums: reserved.checksums,
        idleTimeoutMs: this.idleTimeoutMs,
        journal: this.options.journal,
        migrationId: hello.migrationId,
        log: this.options.log,
        ...(hello.capabilities.includes(CAPABILITY_DIRECT_PAGES) ? { repair: { memory: reserved.memory } } : {}),
      });
      markStep('D Committed sent');
      committed = { hello, reserved, received, receivedDigest };
      if (repair) this.record.report.repair = repair;
      this.record.report.commitJournalMs = Math.round(journalMs * 10) / 10;
      this.committedAt = committedAt;
    } catch (error) {
      await this.failBeforeCommit(error);
      return null;
    }
    this.record.report.receivedDigest = committed.receivedDigest;
    const decision = await this.awaitConfirm(committed.hello);
    if (decision.action === 'activate' && decision.by === 'source') {
      this.record.report.confirmWaitMs = Math.round((performance.now() - this.committedAt) * 10) / 10;
    }
    if (decision.action === 'discard') {
      await this.discardCommitted(decision);
      return null;
    }
    return this.activate(committed, decision);
  }

  /** Hello, read and checked. @throws the refusal it earns (see refuse()), or why it could not be read. */
  private async handshake(): Promise<{ hello: HelloMessage; workload: WorkloadSpec }> {
    const hello = await readHello(this.firstFrame);
    markStep('D Hello read');
    this.record.hello = hello;
    const workload = checkHello(hello);
    if (workload instanceof MigrationError) throw this.refuse(workload);
    const diskProblem = checkGuestDisk(hello, workload, this.options.disk);
    if (diskProblem) throw this.refuse(diskProblem);
    // An id is one attempt (PROTOCOL.md, "Commit", rule 8); a restarted destination remembers it from its journal.
    const known = this.options.journal.get(hello.migrationId);
    if (known) throw this.refuse(new OutcomeDecidedError(`migration ${hello.migrationId} was already ${known.outcome} here at ${known.at}`));
    if (this.options.journal.askedBeforeHello(hello.migrationId)) {
      throw this.refuse(new OutcomeDecidedError(`migration ${hello.migrationId} was answered aborted to an outcome query before this Hello`));
    }
    if (this.options.inFlight.has(hello.migrationId)) {
      throw this.refuse(new OutcomeDecidedError(`migration ${hello.migrationId} is already in flight here`));
    }
    // Released when this migration ends; by then the journal holds the id.
    this.options.inFlight.add(hello.migrationId);
    this.migrationId = hello.migrationId;
    return { hello, workload };
  }

  /** Memory, data channels and Accept, then the parked vCPUs. @throws the refusal when the guest does not fit. */
  private async reserve(hello: HelloMessage, workload: WorkloadSpec): Promise<Reserved> {
    const { conn, options } = this;
    const reservation = reserveMemory(options.reservations, hello);
    if (reservation instanceof MigrationError) throw this.refuse(reservation);
    this.reservation = reservation;
    const image = await openChannels({
      pool: options.pool,
      hello,
      allocateSlot: options.allocateSlot,
      reservation,
      idleTimeoutMs: this.idleTimeoutMs,
      sourceAddress: conn.socket.remoteAddress ?? '',
    });
    markStep('D memory and channels ready');
    this.channels = image.channels;
    this.record.channels = image.channels;
    const urgent = wantsPostcopy(hello) ? await UrgentListener.listen({
          host: conn.socket.localAddress ?? '127.0.0.1',
          reservationId: reservation.id,
          idleTimeoutMs: this.idleTimeoutMs,
          security: options.security,
          sourceAddress: conn.socket.remoteAddress ?? '',
        }) : undefined;
    this.urgent = urgent;
    await sendAccept(conn, hello, reservation, image.channels, urgent?.port);
    markStep('D Accept sent');
    const vcpus = startParkedVcpus(options.vcpuPool, hello, image, workload, options.disk);
    this.vcpus = vcpus;
    options.log.info(
      { guestId: hello.guestId, memory: formatBytes(hello.geometry.memoryBytes), vcpus: hello.geometry.vcpus, workload: workload.name, channels: image.channels.ports },
      'guest reserved, receiving',
    );
    return { ...image, reservation, vcpus, ...(urgent ? { urgent } : {}) };
  }

  /**
   * Post-copy: up to PostcopyRun a failure is one before the commit point. The switch is journaled as the
   * commit, the guest starts at once, and its faults are served while the push fills in the rest. A connection
   * lost after the switch pauses post-copy (postcopy/recovery.ts) until the source reconnects: the guest runs
   * on here, neither side can finish it alone.
   */
  private async postcopy(hello: HelloMessage, reserved: Reserved, urgent: UrgentListener, received: PostcopySwitch): Promise<ArrivedGuest | null> {
    const { conn, options, record } = this;
    let activated;
    try {
      await Promise.race([reserved.channels.untilRound(received.rounds), reserved.channels.failed]);
      await options.journal.recordCommitted(hello.migrationId);
      activated = await activatePostcopy(reserved.vcpus, reserved.present, received);
    } catch (error) {
      await this.failBeforeCommit(error);
      return null;
    }
    record.report.activationMs = activated.activationMs;
    options.log.info({ migrationId: hello.migrationId, missing: received.missing.length }, 'switched to post-copy: the guest runs here, pages still arriving');
    const progress: PostcopyProgress = { requests: new FaultRequests(reserved.present), answeredPlaced: 0, pauses: 0, recoveries: 0 };
    // Live while it runs (GET /migrations, /metrics); final once it is over.
    const figures = (): PostcopyDestReport => postcopyReport(reserved.present, received.missing.length, progress);
    record.postcopyFigures = figures;
    const pause: PauseContext = {
      ...{ control: conn, paused: options.pausedPostcopies, reservationId: reserved.reservation.id, migrationId: hello.migrationId },
      ...{ sourceAddress: conn.socket.remoteAddress ?? '', idleTimeoutMs: this.idleTimeoutMs, present: reserved.present, record },
      ...{ log: options.log, stopChannels: () => stopAndWait(options.stopChannels, reserved.channels) },
    };
    const links = await postcopyUntilDone(pause, urgent, reserved, progress);
    record.report.postcopy = figures();
    options.refillPools();
    links.control.close();
    links.urgent.close();
    record.completed();
    options.log.info({ guestId: hello.guestId, postcopy: record.report.postcopy }, 'post-copy complete: every page is here');
    return { guest: activated.guest, guestId: hello.guestId, report: record.report, reservation: reserved.reservation };
  }

  /**
   * The committed guest stays parked until the source's Confirm on this connection or on an outcome connection,
   * or the operator's decision (PROTOCOL.md, "Commit", rules 6 and 7). An Abort instead of Confirm means the
   * source refused the commit and resumed its copy: the guest is discarded. A connection that fails changes
   * nothing: the source will ask.
   */
  private async awaitConfirm(hello: HelloMessage): Promise<ConfirmDecision> {
    const { conn, options, record } = this;
    const parked = options.parked.park(hello.migrationId, hello.guestId);
    record.refresh();
    record.report.status = 'committed';
    void conn.receive(undefined, 'Confirm').then(
      (frame) => {
        if (frame.type === FrameType.Confirm && frame.message.migrationId === hello.migrationId) {
          parked.decide({ action: 'activate', by: 'source', conn });
        } else {
          options.log.warn({ migrationId: hello.migrationId, frame: frame.type }, 'committed guest: not a Confirm for it; waiting for an outcome connection');
          conn.destroy();
        }
      },
      (error: unknown) => {
        if (conn.peerAborted) {
          parked.decide({ action: 'discard', by: 'source', reason: (error as Error).message });
        } else {
          options.log.warn({ migrationId: hello.migrationId, err: errorSummary(error) }, 'committed guest parked: control connection lost before Confirm');
        }
      },
    );
    options.log.info({ migrationId: hello.migrationId, guestId: hello.guestId }, 'committed, parked until the source confirms');
    return parked.decided;
  }

  /** The committed guest's vCPUs continue here; Activated tells the source when. */
  private async activate(committed: Committed, decision: Extract<ConfirmDecision, { action: 'activate' }>): Promise<ArrivedGuest | null> {
    const { record, options } = this;
    const { reserved } = committed;
    let activated;
    try {
      activated = await activateGuest(reserved.vcpus, committed.received);
    } catch (error) {
      this.failAfterCommit(error);
      return null;
    }
    record.report.activationMs = activated.activationMs;
    if (decision.by === 'source') await sendActivated(decision.conn);
    if (decision.by === 'operator' || decision.conn !== this.conn) this.conn.close();
    // Ending worker threads costs the main thread time: done after activation, off the downtime.
    options.stopChannels(reserved.channels);
    options.refillPools();
    record.completed();
    const { report } = record;
    options.log.info(
      { guestId: report.guestId, rounds: report.rounds, pagesReceived: report.pagesReceived, activationMs: report.activationMs },
      'guest committed and running here',
    );
    return { guest: activated.guest, guestId: committed.hello.guestId, report, reservation: reserved.reservation };
  }

  /** Marks `refusal` as the answer to this Hello; returns it to be thrown. */
  private refuse(refusal: MigrationError): MigrationError {
    this.refusal = refusal;
    return refusal;
  }

  /**
   * Before the commit point nothing is kept: the source hears why (Refuse for a refusal, else Abort), and keeps
   * running its guest; the reservation, channels and vCPUs are given back.
   */
  private async failBeforeCommit(error: unknown): Promise<void> {
    const { conn, options, record } = this;
    let failure = error;
    // Journaled before the source hears it (rule 5), so that a restarted destination never commits this id.
    if (this.migrationId !== undefined) {
      await options.journal.recordAborted(this.migrationId).catch((journalError: unknown) => {
        options.log.warn({ migrationId: this.migrationId, err: errorSummary(journalError) }, 'abort not journaled');
      });
    }
    if (this.refusal !== undefined && failure === this.refusal) {
      try {
        await sendRefuse(conn, this.refusal);
      } catch (sendError) {
        failure = sendError;
      }
    }
    this.discard();
    // A guest error before commit means the source sent something this guest cannot be built from.
    const typed = failure instanceof GuestError ? new BadMessageError(failure.message, { cause: failure }) : failure;
    // After Refuse the connection is already ending: abort() then writes nothing more.
    conn.abort(typed instanceof Error ? typed : new Error(String(typed)));
    options.refillPools();
    record.failed(typed);
    options.log.warn({ err: record.report.error, source: record.report.source }, 'incoming migration failed; discarded');
  }

  /**
   * After the commit point the source has let go: there is no one to tell, and no guest to keep. The connection
   * is cut without Activated, the guest's resources are given back.
   */
  private failAfterCommit(error: unknown): void {
    this.record.failed(error);
    this.discard();
    this.options.log.error({ err: this.record.report.error }, 'committed guest failed to start');
    this.conn.destroy();
  }

  /**
   * A committed guest the source refused (Abort) or the operator discarded: dropped, never run here. The drop is
   * journaled first (fsynced), so that outcome queries answer `discarded` and the source may resume its copy
   * (PROTOCOL.md, "Commit", rule 7). The record is claimed in the same run of microtasks as the decision, so no
   * outcome connection can answer `committed` in between. If it cannot be written, queries answer `unknown`,
   * and the guest is dropped all the same: a parked copy that never ran can be dropped without harm.
   */
  private async discardCommitted(decision: Extract<ConfirmDecision, { action: 'discard' }>): Promise<void> {
    const { options, record } = this;
    await options.journal.recordDiscarded(this.migrationId!).catch((journalError: unknown) => {
      options.log.warn({ migrationId: this.migrationId, err: errorSummary(journalError) }, 'discard not journaled');
    });
    const error = new OutcomeDecidedError(`committed guest discarded by the ${decision.by}: ${decision.reason}`);
    record.failed(error);
    this.discard();
    options.refillPools();
    this.conn.destroy();
    options.log.warn({ migrationId: this.migrationId, err: record.report.error }, 'committed guest discarded; it never ran here');
  }

  private discard(): void {
    this.urgent?.close();
    this.reservation?.release();
    if (this.channels) this.options.stopChannels(this.channels);
    void this.vcpus?.then((guest) => guest.stop(), () => {});
  }
}
