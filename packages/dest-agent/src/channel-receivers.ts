import type { Worker } from 'node:worker_threads';
import type { GuestMemory } from '@livemig/guest';
import { localErrorFromCode, type PageChecksums } from '@livemig/protocol';
import type { ReceiverCommand, ReceiverEvent, ReceiverWorkerData } from './channel-messages.js';
import type { ReceiverPool } from './receiver-pool.js';

export interface ChannelReceiversOptions {
  pool: ReceiverPool;
  count: number;
  reservationId: string;
  memory: GuestMemory;
  checksums: PageChecksums;
  idleTimeoutMs: number;
}

interface Channel {
  worker: Worker;
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
 * `failed` rejects with the first channel's typed error; `untilRound(n)` resolves once every channel has
 * applied round n in full.
 */
export class ChannelReceivers {
  readonly ports: number[];
  readonly failed: Promise<never>;
  private rejectFailed: (error: Error) => void = () => {};
  /** Woken at every round end, to look at roundsDone again. */
  private waiters: (() => void)[] = [];

  private constructor(private readonly channels: Channel[], ports: number[]) {
    this.ports = ports;
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
  }

  /**
   * Takes `count` workers from the pool, already listening on their ports, and assigns them the reservation's
   * channels. Resolves without waiting for them: a pooled worker's port is known from its greeting.
   */
  static async open(options: ChannelReceiversOptions): Promise<ChannelReceivers> {
    const listening = await options.pool.takeExactly(options.count);
    const memory = options.memory.handles();
    const channels: Channel[] = listening.map(({ worker }, channel) => {
      // Assigned to a migration now: it must keep the process alive until the migration ends.
      worker.ref();
      const data: ReceiverWorkerData = {
        memory,
        checksums: options.checksums.buffer,
        reservationId: options.reservationId,
        channel,
        idleTimeoutMs: options.idleTimeoutMs,
      };
      worker.postMessage({ type: 'assign', data } satisfies ReceiverCommand);
      return { worker, roundsDone: 0, pages: 0, bytes: 0, openPages: 0, openBytes: 0 };
    });
    const receivers = new ChannelReceivers(channels, listening.map(({ port }) => port));
    for (const channel of channels) receivers.watch(channel);
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
    await Promise.all(this.channels.map(({ worker }) => worker.terminate()));
  }

  private watch(channel: Channel): void {
    // Only the first rejection of `failed` counts: later channel errors are echoes of the first.
    const fail = (error: Error): void => this.rejectFailed(error);
    channel.worker.on('message', (event: ReceiverEvent) => {
      if (event.type === 'progress') {
        channel.openPages = event.pages;
        channel.openBytes = event.bytes;
      } else if (event.type === 'round-end') {
        channel.roundsDone = event.round;
        channel.pages += event.pages;
        channel.bytes += event.bytes;
        channel.openPages = 0;
        channel.openBytes = 0;
        const waiting = this.waiters;
        this.waiters = [];
        for (const wake of waiting) wake();
      } else if (event.type === 'error') {
        fail(localErrorFromCode(event.code, event.message));
      }
    });
    channel.worker.on('error', (error) => fail(error));
  }
}
