import { Worker } from 'node:worker_threads';
import type { GuestMemory } from '@livemig/guest';
import { InternalError, channelOfPage, localErrorFromCode, type PageChecksums } from '@livemig/protocol';
import { errorSummary } from '@livemig/agent-runtime';
import type { EncodingStats, SenderCommand, SenderEvent, SenderWorkerData } from './channel-messages.js';

export interface ChannelSendersOptions {
  host: string;
  ports: number[];
  reservationId: string;
  memory: GuestMemory;
  checksums: PageChecksums;
  deltaCacheBytes: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** The migration's SharedRateLimiter buffer, if it has a bandwidth limit. */
  rateLimit?: SharedArrayBuffer;
  /** Send consecutive pages in Lz4Run entries (the destination agreed to CAPABILITY_LZ4_RUNS). */
  lz4Runs: boolean;
}

interface Channel {
  worker: Worker;
  waiting: ((event: SenderEvent) => void) | undefined;
  stats: EncodingStats;
  deltaHits: number;
  /** When its worker had connected and sent ChannelHello, in ms since the epoch (0 until then). */
  openedAt: number;
  /** Wire bytes of the rounds this channel finished. */
  bytes: number;
  /** Pages and wire bytes of the round in flight, as last reported by the worker. */
  roundPages: number;
  roundBytes: number;
}

/**
 * The data channels of an outgoing migration, one worker thread and one TCP connection each. Pages are
 * sharded by 64-page group (channelOfPage), so every copy of a page travels on the same channel, in order.
 * The first failure of any channel is sticky and fails every later round.
 *
 * Starting a worker thread that loads the protocol costs ~100 ms, so workers are spawned ahead (spawn), as
 * soon as a migration is planned, and only connected when the destination has answered (start).
 */
export class ChannelSenders {
  private failure: Error | undefined;

  private constructor(private readonly channels: Channel[]) {
    for (const channel of channels) this.watch(channel);
  }

  /** Spawns `count` workers and resolves once each has loaded its code. */
  static async spawn(count: number): Promise<ChannelSenders> {
    const channels: Channel[] = Array.from({ length: count }, () => ({
      worker: new Worker(new URL('./channel-sender-worker.js', import.meta.url)),
      waiting: undefined,
      stats: { pages: {}, bytes: {} },
      deltaHits: 0,
      openedAt: 0,
      bytes: 0,
      roundPages: 0,
      roundBytes: 0,
    }));
    const senders = new ChannelSenders(channels);
    try {
      await Promise.all(channels.map((channel) => senders.next(channel, 'online')));
    } catch (error) {
      senders.terminate();
      throw error;
    }
    return senders;
  }

  get count(): number {
    return this.channels.length;
  }

  /**
   * Has every channel connect to its port at the destination and open with ChannelHello. Returns at once:
   * each worker does so before any round posted after this call, and a channel that cannot connect fails the
   * first round.
   */
  start(options: ChannelSendersOptions): void {
    if (options.ports.length !== this.channels.length) {
      throw new Error(`${options.ports.length} ports for ${this.channels.length} channels`);
    }
    const memory = options.memory.handles();
    this.channels.forEach((channel, index) => {
      const data: SenderWorkerData = {
        memory,
        checksums: options.checksums.buffer,
        host: options.host,
        port: options.ports[index]!,
        reservationId: options.reservationId,
        channel: index,
        deltaCacheBytes: Math.floor(options.deltaCacheBytes / this.channels.length),
        idleTimeoutMs: options.idleTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs,
        lz4Runs: options.lz4Runs,
        ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
      };
      this.post(channel, { type: 'start', data });
    });
  }

  /**
   * Sends one round: each channel its share of `pages`, concurrently. Resolves when every channel sent it.
   * `final`: the stop-and-copy round (the guest is parked and no round follows).
   */
  async sendRound(round: number, pages: Uint32Array, final = false): Promise<void> {
    const count = this.channels.length;
    const shares = splitByChannel(pages, count);
    await Promise.all(
      this.channels.map(async (channel, index) => {
        this.post(channel, { type: 'round', round, pages: shares[index]!, final });
        const done = await this.next(channel, 'round-done');
        if (done.type === 'round-done') {
          channel.stats = done.stats;
          channel.deltaHits = done.deltaHits;
          channel.bytes += done.bytes;
          channel.roundPages = 0;
          channel.roundBytes = 0;
        }
      }),
    );
  }

  /** Wire bytes sent so far, including the round in flight (as of the workers' last progress reports). */
  get bytesSent(): number {
    return this.channels.reduce((sum, channel) => sum + channel.bytes + channel.roundBytes, 0);
  }

  /** Pages of the round in flight sent so far (as of the workers' last progress reports). */
  get roundPagesSent(): number {
    return this.channels.reduce((sum, channel) => sum + channel.roundPages, 0);
  }

  /**
   * When the last channel had connected and sent ChannelHello, in ms since the epoch. Complete once round 1 is:
   * a worker reports it before it reports its first round.
   */
  get openedAt(): number {
    return Math.max(...this.channels.map((channel) => channel.openedAt));
  }

  get deltaHits(): number {
    return this.channels.reduce((sum, channel) => sum + channel.deltaHits, 0);
  }

  /** Pages and entry bytes by encoding, summed over channels. */
  stats(): EncodingStats {
    const total: EncodingStats = { pages: {}, bytes: {} };
    for (const { stats } of this.channels) {
      for (const [name, value] of Object.entries(stats.pages)) total.pages[name] = (total.pages[name] ?? 0) + value;
      for (const [name, value] of Object.entries(stats.bytes)) total.bytes[name] = (total.bytes[name] ?? 0) + value;
    }
    return total;
  }

  /** Closes every channel after what was queued has been written; cuts whatever has not closed in `graceMs`. */
  async finish(graceMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    const closed = Promise.all(
      this.channels.map(async (channel) => {
        this.post(channel, { type: 'finish' });
        await this.next(channel, 'finished');
      }),
    );
    try {
      await Promise.race([closed, late]);
    } finally {
      clearTimeout(timer);
      this.terminate();
    }
  }

  /** Cuts every channel at once (failure or cancel). */
  terminate(): void {
    for (const { worker } of this.channels) void worker.terminate();
  }

  private post(channel: Channel, command: SenderCommand): void {
    if (this.failure) throw this.failure;
    channel.worker.postMessage(command);
  }

  private next(channel: Channel, type: SenderEvent['type']): Promise<SenderEvent> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      channel.waiting = (event) => {
        channel.waiting = undefined;
        if (event.type === 'error') reject(this.failure);
        else if (event.type !== type) reject(new Error(`channel sent ${event.type}, expected ${type}`));
        else resolve(event);
      };
    });
  }

  private watch(channel: Channel): void {
    const failWith = (error: Error): void => {
      if (this.failure) return;
      this.failure = error;
      for (const other of this.channels) other.waiting?.({ type: 'error', ...errorSummary(error) });
    };
    channel.worker.on('message', (event: SenderEvent) => {
      if (event.type === 'error') {
        failWith(localErrorFromCode(event.code, event.message));
        return;
      }
      if (event.type === 'progress') {
        channel.roundPages = event.pages;
        channel.roundBytes = event.bytes;
        return;
      }
      if (event.type === 'opened') {
        channel.openedAt = event.at;
        return;
      }
      channel.waiting?.(event);
    });
    channel.worker.on('error', (error) => failWith(error));
    channel.worker.on('exit', (code) => {
      if (code !== 0 && !this.failure) failWith(new InternalError(`channel worker exited with code ${code}`));
    });
  }
}

/** This round's pages per channel, in SharedArrayBuffers so that the workers read them without a copy. */
function splitByChannel(pages: Uint32Array, channels: number): Uint32Array[] {
  if (channels === 1) {
    const shared = new Uint32Array(new SharedArrayBuffer(pages.length * 4));
    shared.set(pages);
    return [shared];
  }
  const counts = new Array<number>(channels).fill(0);
  for (let i = 0; i < pages.length; i++) counts[channelOfPage(pages[i]!, channels)]! += 1;
  const shares = counts.map((count) => new Uint32Array(new SharedArrayBuffer(count * 4)));
  const fill = new Array<number>(channels).fill(0);
  for (let i = 0; i < pages.length; i++) {
    const channel = channelOfPage(pages[i]!, channels);
    shares[channel]![fill[channel]!++] = pages[i]!;
  }
  return shares;
}
