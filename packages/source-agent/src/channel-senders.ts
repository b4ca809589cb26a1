import { ChannelThreads, spawnThreads, type ReadyThread, type TransportSecurity } from '@livemig/agent-runtime';
import type { GuestMemory } from '@livemig/guest';
import { channelOfPage, localErrorFromCode, type PageChecksums } from '@livemig/protocol';
import type { EncodingStats, SenderCommand, SenderEvent, SenderWorkerData } from './channel-messages.js';
import { emptyBatchCounts, type BatchCounts, type CompressMode } from './compression-choice.js';
import type { ChannelShareCost } from './switchover/page-cost.js';

const SENDER_WORKER_URL = new URL('./channel-sender-worker.js', import.meta.url);

export interface ChannelSendersOptions {
  host: string;
  ports: number[];
  reservationId: string;
  memory: GuestMemory;
  checksums: PageChecksums;
  deltaCacheBytes: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** How each channel's connection is secured: the control connection's credentials. */
  security: TransportSecurity;
  /** The migration's SharedRateLimiter buffer, if it has a bandwidth limit. */
  rateLimit?: SharedArrayBuffer;
  /** Send consecutive pages in Lz4Run entries (the destination agreed to CAPABILITY_LZ4_RUNS). */
  lz4Runs: boolean;
  /** --compress (CompressionChoice). */
  compress: CompressMode;
  /** The destination reads ZstdRun entries (it agreed to CAPABILITY_ZSTD_RUNS). */
  zstdRuns: boolean;
  /** Send PageBatchDirect frames (the destination agreed to CAPABILITY_DIRECT_PAGES). */
  directPages: boolean;
  /** See SenderWorkerData.sparseRunsInPreCopy. */
  sparseRunsInPreCopy: boolean;
}

/** What the main thread knows of one channel, from its worker's reports. */
interface Channel {
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
 * The first failure of any channel is sticky and fails every later round (ChannelThreads).
 *
 * Starting a worker thread that loads the protocol costs ~100 ms, so workers are spawned ahead (spawn), as
 * soon as a migration is planned, and only connected when the destination has answered (start).
 */
export class ChannelSenders {
  private readonly threads: ChannelThreads<SenderCommand, SenderEvent>;
  private readonly channels: Channel[];
  /** Page batches per compression in the last round sent, over every channel. */
  lastRoundBatches: BatchCounts = emptyBatchCounts();
  /** Per channel, the last round's pages and the time its thread spent on them (ChannelShareCost). */
  lastRoundCosts: ChannelShareCost[] = [];

  private constructor(threads: ReadyThread[]) {
    this.channels = threads.map(() => ({ stats: { pages: {}, bytes: {} }, deltaHits: 0, openedAt: 0, bytes: 0, roundPages: 0, roundBytes: 0 }));
    this.threads = new ChannelThreads<SenderCommand, SenderEvent>(threads, (index, event) => this.onEvent(this.channels[index]!, event));
  }

  /**
   * Spawns `count` workers and resolves once each has loaded its code (each posts `online`).
   * @throws the first worker's failure to start; every worker of the call is terminated then
   */
  static async spawn(count: number): Promise<ChannelSenders> {
    return new ChannelSenders(await spawnThreads(SENDER_WORKER_URL, count));
  }

  get count(): number {
    return this.threads.count;
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
    this.channels.forEach((_, index) => {
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
        security: options.security,
        lz4Runs: options.lz4Runs,
        compress: options.compress,
        zstdRuns: options.zstdRuns,
        directPages: options.directPages,
        sparseRunsInPreCopy: options.sparseRunsInPreCopy,
        ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
      };
      this.threads.post(index, { type: 'start', data });
    });
  }

  /**
   * Sends one round: each channel its share of `pages`, concurrently. Resolves when every channel sent it.
   * `final`: the stop-and-copy round (the guest is parked and no round follows).
   */
  async sendRound(round: number, pages: Uint32Array, final = false, push = false): Promise<void> {
    const count = this.channels.length;
    const shares = splitByChannel(pages, count);
    const batches = emptyBatchCounts();
    const costs: ChannelShareCost[] = shares.map((share) => ({ pages: share.length, busyMs: 0 }));
    await Promise.all(
      this.channels.map(async (channel, index) => {
        this.threads.post(index, { type: 'round', round, pages: shares[index]!, final, push });
        const done = await this.threads.reply(index, 'round-done');
        channel.stats = done.stats;
        channel.deltaHits = done.deltaHits;
        channel.bytes += done.bytes;
        for (const c of Object.keys(batches) as (keyof BatchCounts)[]) batches[c] += done.batches[c];
        costs[index]!.busyMs = done.busyMs;
        channel.roundBytes = 0;
        // The whole share counts until every channel is done and the caller adds the round to its total:
        // a channel that finished early must not make the pages sent dip (a negative rate) meanwhile.
        channel.roundPages = shares[index]!.length;
      }),
    );
    for (const channel of this.channels) channel.roundPages = 0;
    this.lastRoundBatches = batches;
    this.lastRoundCosts = costs;
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
      this.channels.map(async (_, index) => {
        this.threads.postLast(index, { type: 'finish' });
        await this.threads.reply(index, 'finished');
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
    this.threads.terminate();
  }

  /** Takes in what a channel reports on its own; false for the reply to the command it is working on. */
  private onEvent(channel: Channel, event: SenderEvent): boolean {
    if (event.type === 'error') {
      this.threads.fail(localErrorFromCode(event.code, event.message));
      return true;
    }
    if (event.type === 'progress') {
      channel.roundPages = event.pages;
      channel.roundBytes = event.bytes;
      return true;
    }
    if (event.type === 'opened') {
      channel.openedAt = event.at;
      return true;
    }
    return false;
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
