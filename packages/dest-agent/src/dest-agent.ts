import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encodeActivated } from '@livemig/protocol';
import { Guest } from '@livemig/guest';
import { DEFAULT_IDLE_TIMEOUT_MS, FramedSocket, errorSummary, silentLogger, warmUpConnections, type Logger } from '@livemig/agent-runtime';
import type { IncomingReport } from './incoming-report.js';
import { receiveGuest, type ReceiveProgress } from './receiver.js';
import { ReceiverPool } from './receiver-pool.js';
import { MemoryReservations, type Reservation } from './reservations.js';
import { VcpuPool } from './vcpu-pool.js';

export interface DestAgentOptions {
  /** Guest memory this agent may hold at once (reservations beyond it are refused). */
  maxMemoryBytes: number;
  token?: string;
  log?: Logger;
  /** An incoming migration with no traffic for this long fails with LM_ERR_TIMEOUT. */
  idleTimeoutMs?: number;
  /** Receiver workers kept warm for the data channels of the next migration (default 2). */
  warmChannels?: number;
  /** vCPU workers kept warm for the next guest (default 2). */
  warmVcpus?: number;
}

/** A guest that arrived, was committed and now runs here. */
export interface ArrivedGuest {
  guest: Guest;
  guestId: string;
  report: IncomingReport;
  /** Release when the guest leaves this host (migrated onward or stopped). */
  reservation: Reservation;
}

export interface DestAgentEvents {
  incoming: [remote: string, id: string];
  arrived: [arrival: ArrivedGuest];
  failed: [report: IncomingReport];
}

/**
 * The destination daemon: accepts migrations over TCP, receives and verifies each guest, commits, then
 * activates it on fresh vCPU workers. Emits `arrived` for every guest now running here and `failed` for every
 * incoming migration that did not reach commit (nothing of it is kept).
 */
export class DestAgent extends EventEmitter<DestAgentEvents> {
  readonly reservations: MemoryReservations;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private accepting = true;
  /** Made by listen(): its workers listen on the agent's address. */
  private pool: ReceiverPool | undefined;
  private readonly vcpuPool: VcpuPool;
  /** Channel workers being stopped; close() waits for them, so no thread is torn down as the process exits. */
  private readonly stopping = new Set<Promise<void>>();
  /** Every incoming migration by id, oldest first; those in flight are refreshed when read. */
  private readonly incomingReports = new Map<string, { report: IncomingReport; refresh: () => void }>();

  constructor(private readonly options: DestAgentOptions) {
    super();
    this.reservations = new MemoryReservations(options.maxMemoryBytes);
    this.log = options.log ?? silentLogger();
    this.server = createServer();
    this.vcpuPool = new VcpuPool(options.warmVcpus ?? 2);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
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
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
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
    return [...this.incomingReports.values()].map(({ report, refresh }) => {
      if (report.status === 'receiving') refresh();
      return { ...report };
    });
  }

  /** Stops accepting new migrations; those in flight go on. */
  stopAccepting(): void {
    this.accepting = false;
    this.server.close();
  }

  /** Warm workers for the next migration, unless no next migration will come (the pools spawn threads). */
  private refillPools(): void {
    if (!this.accepting) return;
    this.pool?.refill();
    this.vcpuPool.refill();
  }

  /** Stops accepting and cuts every migration still in flight. */
  async close(): Promise<void> {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    await this.pool?.close();
    await this.vcpuPool.close();
    await Promise.allSettled([...this.stopping]);
  }

  private stopChannels(received: { closeChannels: () => Promise<void> }): void {
    const stopped = received.closeChannels().catch(() => {});
    this.stopping.add(stopped);
    void stopped.finally(() => this.stopping.delete(stopped));
  }

  private async handle(socket: Socket, pool: ReceiverPool): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const started = performance.now();
    const conn = new FramedSocket(socket, { idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
    const progress: ReceiveProgress = { hello: null, channels: null };
    const report: IncomingReport = {
      id: randomUUID(),
      status: 'receiving',
      guestId: null,
      source: conn.remote,
      startedAt: new Date().toISOString(),
      totalTimeMs: 0,
      memoryBytes: null,
      vcpus: null,
      workload: null,
      rounds: 0,
      pagesReceived: 0,
      bytesReceived: 0,
      receivedDigest: null,
      activationMs: null,
      peakRssBytes: 0,
      finalDigest: null,
      opsDone: null,
      ended: null,
      onward: null,
    };
    const fill = (): void => {
      report.guestId = progress.hello?.guestId ?? null;
      report.memoryBytes = progress.hello?.geometry.memoryBytes ?? null;
      report.vcpus = progress.hello?.geometry.vcpus ?? null;
      report.workload = progress.hello?.workload.name ?? null;
      report.rounds = progress.channels?.roundsDone ?? 0;
      report.pagesReceived = progress.channels?.pagesReceived ?? 0;
      report.bytesReceived = conn.bytesReceived + (progress.channels?.bytesReceived ?? 0);
      report.peakRssBytes = process.resourceUsage().maxRSS * 1024;
      report.totalTimeMs = Math.round(performance.now() - started);
    };
    this.incomingReports.set(report.id, { report, refresh: fill });
    this.log.info({ source: conn.remote, id: report.id }, 'incoming migration');
    this.emit('incoming', conn.remote, report.id);
    let received;
    try {
      received = await receiveGuest(
        conn,
        {
          reservations: this.reservations,
          log: this.log,
          pool,
          vcpuPool: this.vcpuPool,
          ...(this.options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: this.options.idleTimeoutMs }),
          ...(this.options.token === undefined ? {} : { token: this.options.token }),
        },
        progress,
      );
    } catch (error) {
      this.refillPools();
      fill();
      report.status = 'failed';
      report.error = errorSummary(error);
      this.log.warn({ err: report.error, source: report.source }, 'incoming migration failed; discarded');
      this.emit('failed', report);
      return;
    }
    report.receivedDigest = received.receivedDigest;
    // Activation: committed, so this side owns the guest now; its parked vCPUs continue from the received registers.
    const activationStart = performance.now();
    let guest: Guest;
    try {
      guest = await received.vcpus;
      guest.loadCpuState(received.cpuState);
      // A guest that was paused at the source stays paused here.
      if (received.running) guest.resume();
    } catch (error) {
      fill();
      report.status = 'failed';
      report.error = errorSummary(error);
      received.reservation.release();
      this.stopChannels(received);
      void received.vcpus.then((g) => g.stop(), () => {});
      this.log.error({ err: report.error }, 'committed guest failed to start');
      conn.destroy();
      this.emit('failed', report);
      return;
    }
    report.activationMs = Math.round((performance.now() - activationStart) * 10) / 10;
    try {
      await conn.send(encodeActivated({ activatedAtMs: Date.now() }));
    } catch {
      // the source already let go at Committed; the notice only times its downtime
    }
    conn.close();
    this.stopChannels(received);
    this.refillPools();
    fill();
    report.status = 'completed';
    this.log.info(
      { guestId: report.guestId, rounds: report.rounds, pagesReceived: report.pagesReceived, activationMs: report.activationMs },
      'guest committed and running here',
    );
    this.emit('arrived', { guest, guestId: received.hello.guestId, report, reservation: received.reservation });
  }
}
