import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { DEFAULT_IDLE_TIMEOUT_MS, FramedSocket, silentLogger, warmUpConnections, type Logger } from '@livemig/agent-runtime';
import type { ChannelReceivers } from './channel-receivers.js';
import type { IncomingReport } from './incoming-report.js';
import { receiveMigration, type ArrivedGuest } from './incoming/incoming-migration.js';
import { IncomingRecord } from './incoming/incoming-record.js';
import { ReceiverPool } from './receiver-pool.js';
import { MemoryReservations } from './reservations.js';
import { VcpuPool } from './vcpu-pool.js';

export type { ArrivedGuest } from './incoming/incoming-migration.js';

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
  private readonly incomingRecords = new Map<string, IncomingRecord>();

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
    return [...this.incomingRecords.values()].map((record) => {
      if (record.report.status === 'receiving') record.refresh();
      return { ...record.report };
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

  private stopChannels(channels: ChannelReceivers): void {
    const stopped = channels.close().catch(() => {});
    this.stopping.add(stopped);
    void stopped.finally(() => this.stopping.delete(stopped));
  }

  private async handle(socket: Socket, pool: ReceiverPool): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const conn = new FramedSocket(socket, { idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
    const record = new IncomingRecord(conn);
    const { id } = record.report;
    this.incomingRecords.set(id, record);
    this.log.info({ source: conn.remote, id }, 'incoming migration');
    this.emit('incoming', conn.remote, id);
    const arrived = await receiveMigration(
      conn,
      {
        reservations: this.reservations,
        log: this.log,
        pool,
        vcpuPool: this.vcpuPool,
        ...(this.options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: this.options.idleTimeoutMs }),
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
        stopChannels: (channels) => this.stopChannels(channels),
        refillPools: () => this.refillPools(),
      },
      record,
    );
    if (arrived) this.emit('arrived', arrived);
    else this.emit('failed', record.report);
  }
}
