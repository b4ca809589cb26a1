import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { GuestMemory } from '@livemig/guest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameType, OutcomeDecidedError, RefusedError, type Frame } from '@livemig/protocol';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  FramedSocket,
  PLAINTEXT,
  errorSummary,
  secureServer,
  silentLogger,
  warmUpConnections,
  type Logger,
  type TransportSecurity,
} from '@livemig/agent-runtime';
import type { ChannelReceivers } from './channel-receivers.js';
import { CommitJournal } from './commit-journal.js';
import {
  DEFAULT_MAX_ENDED_RECORDS,
  DEFAULT_MAX_INCOMING,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  DEFAULT_PRE_AUTH_TIMEOUT_MS,
  pruneEndedRecords,
  type AdmissionLimits,
} from './admission.js';
import { HELLO_TIMEOUT_MS, sendRefuse } from './incoming/handshake.js';
import { serveOutcomeQuery } from './incoming/outcome-query.js';
import { ParkedGuests } from './incoming/parked-guests.js';
import { PausedPostcopies } from './postcopy/paused-postcopies.js';
import { RecoveryListener } from './postcopy/recovery-listener.js';
import type { IncomingReport } from './incoming-report.js';
import { receiveMigration, type ArrivedGuest } from './incoming/incoming-migration.js';
import { IncomingRecord } from './incoming/incoming-record.js';
import { ReceiverPool } from './receiver-pool.js';
import { MemoryReservations } from './reservations.js';
import { PrefaultedMemory } from './prefaulted-memory.js';
import { VcpuPool } from './vcpu-pool.js';

export type { ArrivedGuest } from './incoming/incoming-migration.js';

export interface DestAgentOptions extends AdmissionLimits {
  /** Guest memory this agent may hold at once (reservations beyond it are refused). */
  maxMemoryBytes: number;
  /** Threads (data channels plus vCPUs) its incoming guests may claim at once (default 64). */
  maxThreads?: number;
  /** How connections to this agent (control, data channels, outcome queries) are secured; default plain TCP. */
  security?: TransportSecurity;
  /** The virtual disk of guests that use one (fileserver): on shared storage, the path the source opens. */
  disk?: string;
  log?: Logger;
  /** An incoming migration with no traffic for this long fails with LM_ERR_TIMEOUT. */
  idleTimeoutMs?: number;
  /** Receiver workers kept warm for the data channels of the next migration (default 2). */
  warmChannels?: number;
  /** vCPU workers kept warm for the next guest (default 2). */
  warmVcpus?: number;
  /**
   * Where the commit journal lives (PROTOCOL.md, "The commit journal"); one agent per directory. Default: a
   * directory of its own under the OS temp dir named for the port (`livemig-dest-PORT`), or, on an ephemeral
   * port, a fresh temporary one removed at close (no later run can be asked about its migrations).
   */
  stateDir?: string;
  /** How long a source may take to send its first frame (Hello or OutcomeQuery) after connecting (default 30 s). */
  helloTimeoutMs?: number;
  /** Guest memory to fault in before listening, for the guests that arrive first (PrefaultedMemory; default 0). */
  prefaultBytes?: number;
}

export interface DestAgentEvents {
  incoming: [remote: string, id: string];
  arrived: [arrival: ArrivedGuest];
  failed: [report: IncomingReport];
  /** A connection refused before anything was read from it: its TLS handshake failed, or its peer is not allowed. */
  unauthenticated: [error: { code: string; message: string }];
}

/**
 * The destination daemon: accepts migrations over TCP, receives and verifies each guest, commits, then
 * activates it on fresh vCPU workers. Emits `arrived` for every guest now running here and `failed` for every
 * incoming migration that did not reach commit (nothing of it is kept).
 */
export class DestAgent extends EventEmitter<DestAgentEvents> {
  readonly reservations: MemoryReservations;
  private readonly log: Logger;
  private readonly security: TransportSecurity;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private accepting = true;
  /** Made by listen(): its workers listen on the agent's address. */
  private pool: ReceiverPool | undefined;
  private readonly vcpuPool: VcpuPool;
  private readonly prefaulted: PrefaultedMemory;
  /** Channel workers being stopped; close() waits for them, so no thread is torn down as the process exits. */
  private readonly stopping = new Set<Promise<void>>();
  /** Every incoming migration by id, oldest first; those in flight are refreshed when read. */
  private readonly incomingRecords = new Map<string, IncomingRecord>();
  /** Opened by listen(). */
  private commitJournal: CommitJournal | undefined;
  /** A temporary state directory listen() made, removed at close. */
  private temporaryStateDir: string | undefined;
  /** Committed guests waiting for their source's Confirm (or the operator). */
  readonly parked = new ParkedGuests();
  /** Post-copy migrations paused here (a connection lost after the switch), waiting for their source. */
  private readonly pausedPostcopies = new PausedPostcopies();
  private readonly inFlight = new Set<string>();
  /** Incoming migrations on their control connections now. */
  private receiving = 0;
  /** Connections on the main port not yet authenticated or without their first frame. */
  private pending = 0;

  constructor(private readonly options: DestAgentOptions) {
    super();
    this.reservations = new MemoryReservations(options.maxMemoryBytes, options.maxThreads);
    this.log = options.log ?? silentLogger();
    this.security = options.security ?? PLAINTEXT;
    this.server = createServer();
    this.vcpuPool = new VcpuPool(options.warmVcpus ?? 2);
    this.prefaulted = new PrefaultedMemory(options.prefaultBytes ?? 0);
  }

  /**
   * Opens the commit journal and waits for the pre-faulted memory, then listens for migrations and outcome
   * connections.
   * @throws JournalError when the journal cannot be opened (or is corrupt); the server's listen error
   */
  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
    let stateDir = this.options.stateDir;
    if (stateDir === undefined && port === 0) {
      stateDir = await mkdtemp(join(tmpdir(), 'livemig-dest-'));
      this.temporaryStateDir = stateDir;
    }
    await this.prefaulted.ready;
    this.commitJournal = await CommitJournal.open({ stateDir: stateDir ?? join(tmpdir(), `livemig-dest-${port}`) });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const pool = new ReceiverPool(this.options.warmChannels ?? 2, {
      host,
      security: this.security,
    });
    this.pool = pool;
    // Registered in the same turn as the listen completed: no connection can come before it.
    this.server.on('connection', (socket) => void this.handle(socket, pool));
    // Before the first source connects, so that its handshake is not this thread's first use of the code.
    void warmUpConnections();
    return { host: address.address, port: address.port };
  }

  /** Reports of the incoming migrations, in flight (status `receiving`) or ended, oldest first. */
  incoming(): IncomingReport[] {
    return [...this.incomingRecords.values()].map((record) => {
      if (record.report.status === 'receiving' || record.report.status === 'postcopy-paused') record.refresh();
      return { ...record.report };
    });
  }

  /** The commit journal. @throws Error before listen() opened it */
  get journal(): CommitJournal {
    if (!this.commitJournal) throw new Error('the commit journal is opened by listen()');
    return this.commitJournal;
  }

  /**
   * The operator's decision on a committed guest parked here whose source never confirmed (PROTOCOL.md,
   * "Commit", rule 7): `resume` activates it here (check first that the source let go: its report's
   * confirmSent, or its own resolve), `discard` journals `discarded` (fsynced), then drops it: outcome queries
   * then answer `discarded`, so its source resumes, and a later Confirm for it is refused with
   * LM_ERR_OUTCOME_DECIDED. Resolves once the guest runs here or has been dropped.
   * @throws OutcomeDecidedError when incoming migration `id` holds no parked guest
   */
  async resolve(id: string, action: 'resume' | 'discard'): Promise<IncomingReport> {
    const record = this.incomingRecords.get(id);
    const migrationId = record?.hello?.migrationId;
    const parked = migrationId === undefined ? undefined : this.parked.get(migrationId);
    if (!record || !parked) throw new OutcomeDecidedError(`incoming migration ${id} holds no committed guest waiting for Confirm`);
    const ended = new Promise<void>((resolve) => {
      const done = (endedId: string): void => {
        if (endedId !== id) return;
        this.off('arrived', onArrived);
        this.off('failed', onFailed);
        resolve();
      };
      const onArrived = (arrival: ArrivedGuest): void => done(arrival.report.id);
      const onFailed = (report: IncomingReport): void => done(report.id);
      this.on('arrived', onArrived);
      this.on('failed', onFailed);
    });
    const decided =
      action === 'resume'
        ? parked.decide({ action: 'activate', by: 'operator' })
        : parked.decide({ action: 'discard', by: 'operator', reason: 'discarded through the control API' });
    if (!decided) throw new OutcomeDecidedError(`incoming migration ${id} was decided meanwhile`);
    await ended;
    return { ...record.report };
  }

  /**
   * QEMU's migrate-recover: a new port for the recovery connections of post-copy migration `id` (an incoming id,
   * or the migration id), paused or not yet aware it should be, authenticated like every other and taking only
   * its source's address. The source then resumes to it (its POST /migrations/:id/resume). The port closes once
   * it recovered.
   * @throws OutcomeDecidedError when that migration is not in post-copy here
   */
  async recover(id: string): Promise<{ host: string; port: number }> {
    const record = this.incomingRecords.get(id);
    const migrationId = record?.hello?.migrationId ?? id;
    const paused = this.pausedPostcopies.find(migrationId);
    if (!paused) throw new OutcomeDecidedError(`incoming migration ${id} is not in post-copy here: nothing to recover`);
    const host = (this.server.address() as AddressInfo).address;
    const listener = await RecoveryListener.listen({
      host,
      sourceAddress: paused.sourceAddress,
      security: this.security,
      idleTimeoutMs: paused.idleTimeoutMs,
      offer: (conn, first, remote) => void this.pausedPostcopies.offer(conn, first, remote),
    });
    this.pausedPostcopies.closeOnRecovery(paused.reservationId, listener);
    this.log.info({ id, migrationId, port: listener.port }, 'listening for the recovery of a paused post-copy');
    return { host, port: listener.port };
  }

  /**
   * A source paused after it wrote PostcopyRun, whose destination never read it (the connection died first):
   * this side aborted before its commit point and journaled it, so the guest never ran here and the source's
   * copy is the only one. The answer tells the source so, with the journal's word: it resumes its guest.
   */
  private abortedBeforeSwitch(migrationId: string): OutcomeDecidedError | undefined {
    if (this.pausedPostcopies.find(migrationId)) return undefined;
    const known = this.journal.get(migrationId);
    if (known?.outcome !== 'aborted') return undefined;
    return new OutcomeDecidedError(`migration ${migrationId} was aborted here before its switch to post-copy (${known.at}): the guest never ran here`);
  }

  /**
   * Stops accepting new migrations; those in flight go on. The port stays open while a migration is in flight
   * (its committed guest may wait for a Confirm that only an outcome connection can bring), answering outcome
   * queries and refusing Hellos (LM_ERR_REFUSED); it closes once none is.
   */
  stopAccepting(): void {
    this.accepting = false;
    this.closeWhenSettled();
  }

  private closeWhenSettled(): void {
    if (!this.accepting && this.receiving === 0) this.server.close();
  }

  /** Warm workers for the next migration, unless no next migration will come (the pools spawn threads). */
  private refillPools(): void {
    if (!this.accepting) return;
    this.pool?.refill();
    this.vcpuPool.refill();
  }

  /**
   * Takes back the memory of a guest that arrived here and has left (ended, or migrated onward) for the next one,
   * with `--prefault` (PrefaultedMemory.recycle). Only once nothing runs on `memory` any more.
   */
  recycleMemory(memory: GuestMemory): void {
    void this.prefaulted.recycle(memory.slots.map((slot) => slot.buffer as SharedArrayBuffer)).then((kept) => {
      if (kept > 0) this.log.info({ keptBytes: kept, prefaultedBytes: this.prefaulted.bytes }, 'departed guest memory zeroed, kept for the next guest');
    }, (error: unknown) => this.log.warn({ err: errorSummary(error) }, 'guest memory not recycled'));
  }

  /** Stops accepting and cuts every migration still in flight. */
  async close(): Promise<void> {
    this.server.close();
    await this.prefaulted.close();
    for (const socket of this.sockets) socket.destroy();
    await this.pool?.close();
    await this.vcpuPool.close();
    await Promise.allSettled([...this.stopping]);
    await this.commitJournal?.close();
    if (this.temporaryStateDir) await rm(this.temporaryStateDir, { recursive: true, force: true });
  }

  private stopChannels(channels: ChannelReceivers): void {
    const stopped = channels.close().catch(() => {});
    this.stopping.add(stopped);
    void stopped.finally(() => this.stopping.delete(stopped));
  }

  private async handle(raw: Socket, pool: ReceiverPool): Promise<void> {
    if (this.pending >= (this.options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS)) {
      // Closed unread: connections that never authenticate can hold only this many slots, never memory.
      raw.destroy();
      return;
    }
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    this.pending += 1;
    const opened = await this.open(raw);
    this.pending -= 1;
    if (!opened) return;
    const { conn, first } = opened;
    if (first.type === FrameType.PostcopyResume || first.type === FrameType.UrgentHello) {
      // A paused post-copy's source reconnecting to the agent's own port (--postcopy-retries, or its operator).
      const aborted = first.type === FrameType.PostcopyResume && this.abortedBeforeSwitch(first.message.migrationId);
      if (aborted) conn.abort(aborted);
      else this.pausedPostcopies.offer(conn, first, raw.remoteAddress);
      return;
    }
    if (first.type === FrameType.OutcomeQuery) {
      await serveOutcomeQuery(conn, first.message, {
        journal: this.journal,
        parked: this.parked,
        inFlight: this.inFlight,
        log: this.log,
        confirmTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      });
      return;
    }
    const busy = this.receiving >= (this.options.maxIncoming ?? DEFAULT_MAX_INCOMING);
    if (!this.accepting || busy) {
      // Only the migration in flight may still be asked about; a new one is refused, and never recorded.
      const refusal = busy
        ? new RefusedError(`this destination is receiving ${this.receiving} migrations, its limit (--max-incoming)`)
        : new RefusedError('this destination takes no more migrations');
      if (first.type === FrameType.Hello) await sendRefuse(conn, refusal).catch(() => conn.destroy());
      else conn.destroy();
      return;
    }
    this.receiving += 1;
    try {
      await this.receive(conn, Promise.resolve(first), pool);
    } finally {
      this.receiving -= 1;
      this.closeWhenSettled();
    }
  }

  /**
   * A connection authenticated (TLS, with credentials) and its first frame, which tells a migration (Hello) from
   * an outcome connection (OutcomeQuery); undefined when it failed either (logged when it did not authenticate).
   */
  private async open(raw: Socket): Promise<{ conn: FramedSocket; first: Frame } | undefined> {
    let socket: Socket;
    try {
      // Authenticated first: nothing of a stranger's bytes is decoded, and nothing is recorded or reserved for it.
      socket = await secureServer(raw, this.security, this.options.preAuthTimeoutMs ?? DEFAULT_PRE_AUTH_TIMEOUT_MS);
    } catch (error) {
      this.log.warn({ source: `${raw.remoteAddress}:${raw.remotePort}`, err: errorSummary(error) }, 'connection refused: not authenticated');
      this.emit('unauthenticated', errorSummary(error));
      return undefined;
    }
    const conn = new FramedSocket(socket, { idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
    try {
      return { conn, first: await conn.receive(this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS, 'Hello') };
    } catch (error) {
      // Silent, closed or garbled before its first frame: told why (as a failed Hello would be), then closed.
      this.log.warn({ source: conn.remote, err: errorSummary(error) }, 'connection dropped before its first frame');
      conn.abort(error instanceof Error ? error : new Error(String(error)), { tellAfterFailure: true });
      return undefined;
    }
  }

  private async receive(conn: FramedSocket, first: Promise<Frame>, pool: ReceiverPool): Promise<void> {
    const record = new IncomingRecord(conn);
    const { id } = record.report;
    this.incomingRecords.set(id, record);
    this.log.info({ source: conn.remote, id }, 'incoming migration');
    this.emit('incoming', conn.remote, id);
    const arrived = await receiveMigration(
      conn,
      first,
      {
        reservations: this.reservations,
        journal: this.journal,
        parked: this.parked,
        pausedPostcopies: this.pausedPostcopies,
        inFlight: this.inFlight,
        log: this.log,
        pool,
        vcpuPool: this.vcpuPool,
        security: this.security,
        allocateSlot: this.prefaulted.allocate,
        ...(this.options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: this.options.idleTimeoutMs }),
        ...(this.options.disk === undefined ? {} : { disk: this.options.disk }),
        stopChannels: (channels) => this.stopChannels(channels),
        refillPools: () => this.refillPools(),
      },
      record,
    );
    pruneEndedRecords(this.incomingRecords, this.options.maxEndedRecords ?? DEFAULT_MAX_ENDED_RECORDS);
    if (arrived) this.emit('arrived', arrived);
    else this.emit('failed', record.report);
  }
}
