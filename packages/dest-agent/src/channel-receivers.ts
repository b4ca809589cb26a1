import { ChannelThreads, type ReadyThread } from '@livemig/agent-runtime';
import type { GuestMemory, PresentMap } from '@livemig/guest';
import { localErrorFromCode, type PageChecksums } from '@livemig/protocol';
import type { ReceiverCommand, ReceiverEvent, ReceiverWorkerData } from './channel-messages.js';
import type { ReceiverGreeting, ReceiverPool } from './receiver-pool.js';
import { AppliedRounds, type AppliedRound } from './applied-rounds.js';

export interface ChannelReceiversOptions {
  pool: ReceiverPool;
  count: number;
  reservationId: string;
  memory: GuestMemory;
  checksums: PageChecksums;
  idleTimeoutMs: number;
  /** Where the source's control connection comes from: the only address a data port takes connections from. */
  sourceAddress: string;
  /** Post-copy agreed: the guest's present map (see ReceiverWorkerData.present). */
  present?: PresentMap;
}

/** What the main thread knows of one channel, from its worker's reports. */
interface Channel {
  roundsDone: number;
  /** Pages and bytes of the rounds done. */
  pages: number;
  bytes: number;
  /** Pages and bytes of the open round so far, as last reported. */
  openPages: number;
  openBytes: number;
}

/**
 * The data channels of an incoming migration: one worker thread per channel, each listening on its own port.
 * `failed` rejects with the first channel's typed error (ChannelThreads); `untilRound(n)` resolves once every
 * channel has applied round n in full.
 */
export class ChannelReceivers {
  readonly ports: number[];
  readonly failed: Promise<never>;
  private readonly threads: ChannelThreads<ReceiverCommand, ReceiverEvent>;
  private readonly channels: Channel[];
  /** Woken at every round end, to look at roundsDone again. */
  private waiters: (() => void)[] = [];
  private readonly applied: AppliedRounds;
  /** Told of each round once every channel has applied it, in order (what RoundAck acknowledges). */
  onRoundApplied: ((round: AppliedRound) => void) | undefined;

  private constructor(listening: ReadyThread<ReceiverGreeting>[]) {
    this.ports = listening.map(({ greeting }) => greeting.port);
    this.channels = listening.map(() => ({ roundsDone: 0, pages: 0, bytes: 0, openPages: 0, openBytes: 0 }));
    this.applied = new AppliedRounds(listening.length);
    this.threads = new ChannelThreads<ReceiverCommand, ReceiverEvent>(listening, (index, event) => this.onEvent(this.channels[index]!, event));
    this.failed = this.threads.failed;
  }

  /**
   * Takes `count` workers from the pool, already listening on their ports, and assigns them the reservation's
   * channels. Resolves without waiting for the workers to take the assignment: a pooled worker's port is known
   * from its greeting, and a connection that reaches it before its assignment waits for it (channel-receiver-
   * worker.ts), so Accept may name the ports at once. A worker that fails after it is taken fails `failed`.
   * @throws the failure of a worker spawned because the pool had too few (every worker taken is terminated then)
   */
  static async open(options: ChannelReceiversOptions): Promise<ChannelReceivers> {
    // Taken from the pool, each worker keeps the process alive until the migration ends (ThreadPool.take).
    const receivers = new ChannelReceivers(await options.pool.takeExactly(options.count));
    const memory = options.memory.handles();
    try {
      receivers.channels.forEach((_, channel) => {
        const data: ReceiverWorkerData = {
          memory,
          checksums: options.checksums.buffer,
          reservationId: options.reservationId,
          channel,
          idleTimeoutMs: options.idleTimeoutMs,
          sourceAddress: options.sourceAddress,
          ...(options.present ? { present: options.present.handles() } : {}),
        };
        receivers.threads.post(channel, { type: 'assign', data });
      });
    } catch (error) {
      receivers.threads.terminate();
      throw error;
    }
    return receivers;
  }

  /** Pages applied so far, the open rounds' included (as last reported: at most 50 ms old). */
  get pagesReceived(): number {
    return this.channels.reduce((sum, channel) => sum + channel.pages + channel.openPages, 0);
  }

  get bytesReceived(): number {
    return this.channels.reduce((sum, channel) => sum + channel.bytes + channel.openBytes, 0);
  }

  /** Rounds every channel has applied in full. */
  get roundsDone(): number {
    return Math.min(...this.channels.map((channel) => channel.roundsDone));
  }

  /** Resolves once every channel has applied `round`; rejects with the first channel failure. */
  async untilRound(round: number): Promise<void> {
    while (this.roundsDone < round) {
      // `failed` rejects once, with the first channel's error; racing against it rethrows that error.
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), this.failed]);
    }
  }

  /** Stops every channel worker. */
  async close(): Promise<void> {
    await this.threads.close();
  }

  /** Every message of a receiver worker is a report: `assign` has no reply. */
  private onEvent(channel: Channel, event: ReceiverEvent): boolean {
    if (event.type === 'progress') {
      channel.openPages = event.pages;
      channel.openBytes = event.bytes;
    } else if (event.type === 'round-end') {
      channel.roundsDone = event.round;
      channel.pages += event.pages;
      channel.bytes += event.bytes;
      channel.openPages = 0;
      channel.openBytes = 0;
      try {
        for (const whole of this.applied.channelEnded(event.round, event.pages, event.applyMs)) this.onRoundApplied?.(whole);
      } catch (error) {
        this.threads.fail(error instanceof Error ? error : new Error(String(error)));
      }
      const waiting = this.waiters;
      this.waiters = [];
      for (const wake of waiting) wake();
    } else if (event.type === 'error') {
      // Only the first failure counts: later channel errors are echoes of the first.
      this.threads.fail(localErrorFromCode(event.code, event.message));
    }
    return true;
  }
}
