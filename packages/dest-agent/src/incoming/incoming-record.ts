import { randomUUID } from 'node:crypto';
import type { HelloMessage } from '@livemig/protocol';
import { cpuMsSince, errorSummary, type FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { IncomingReport } from '../incoming-report.js';
import type { PostcopyDestReport } from './post-copy.js';

/**
 * The IncomingReport of one incoming migration and what it is read from: the Hello once the handshake has it,
 * the channels once the reservation opened them (their live counts), the control connection's bytes. The
 * report is brought up to date when read while in flight and when the migration ends, never pushed.
 */
export class IncomingRecord {
  readonly report: IncomingReport;
  /** Set by the handshake. */
  hello: HelloMessage | null = null;
  /** Set by the reservation: rounds, pages and bytes received so far. */
  channels: ChannelReceivers | null = null;
  /** Set at a switch to post-copy: its figures so far (faults, blocktime), read live while it runs. */
  postcopyFigures: (() => PostcopyDestReport) | null = null;
  private readonly started = performance.now();
  /** The control connection while the migration is in flight; let go when it ends (with its decoder's buffers). */
  private conn: FramedSocket | undefined;
  private controlBytes = 0;
  private readonly cpuAtStart = process.cpuUsage();

  constructor(conn: FramedSocket) {
    this.conn = conn;
    this.report = {
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
      commitJournalMs: null,
      confirmWaitMs: null,
      activationMs: null,
      peakRssBytes: 0,
      cpuMs: 0,
      finalDigest: null,
      opsDone: null,
      ended: null,
      onward: null,
    };
  }

  /** Copies into the report what the migration knows now, with this process's peak RSS and the time so far. */
  refresh(): void {
    const { report, hello, channels } = this;
    report.guestId = hello?.guestId ?? null;
    report.memoryBytes = hello?.geometry.memoryBytes ?? null;
    report.vcpus = hello?.geometry.vcpus ?? null;
    report.workload = hello?.workload.name ?? null;
    report.rounds = channels?.roundsDone ?? 0;
    report.pagesReceived = channels?.pagesReceived ?? 0;
    if (this.conn) this.controlBytes = this.conn.bytesReceived;
    report.bytesReceived = this.controlBytes + (channels?.bytesReceived ?? 0);
    report.peakRssBytes = process.resourceUsage().maxRSS * 1024;
    report.totalTimeMs = Math.round(performance.now() - this.started);
    if (this.postcopyFigures) report.postcopy = this.postcopyFigures();
    // Frozen once the guest is activated or discarded: what it does here afterwards is not migration cost.
    if (report.status === 'receiving' || report.status === 'committed' || report.status === 'postcopy-paused') report.cpuMs = cpuMsSince(this.cpuAtStart);
  }

  /** The migration ended without a guest running here, for `error`. */
  failed(error: unknown): void {
    this.refresh();
    this.report.status = 'failed';
    this.report.error = errorSummary(error);
    this.letGo();
  }

  /** The guest is committed and runs here. */
  completed(): void {
    this.refresh();
    this.report.status = 'completed';
    this.letGo();
  }

  /** Whether the migration has ended (completed or failed): the report is final. */
  get ended(): boolean {
    return this.report.status === 'completed' || this.report.status === 'failed';
  }

  /** An ended record keeps its report and Hello only: not the connection, its decoder or the channels. */
  private letGo(): void {
    this.conn = undefined;
    this.channels = null;
    this.postcopyFigures = null;
  }
}
