import type { PageCompression } from '@livemig/protocol';

/** `--compress`: a fixed compression for every batch, or `auto`, chosen batch by batch (CompressionChoice). */
export const COMPRESS_MODES = ['auto', 'none', 'lz4', 'zstd'] as const;
export type CompressMode = (typeof COMPRESS_MODES)[number];
export const DEFAULT_COMPRESS: CompressMode = 'auto';

export function isCompressMode(value: string): value is CompressMode {
  return (COMPRESS_MODES as readonly string[]).includes(value);
}

/** Page batches sent under each compression (a round's report shows the choice this way). */
export type BatchCounts = Record<PageCompression, number>;

export function emptyBatchCounts(): BatchCounts {
  return { none: 0, lz4: 0, zstd: 0 };
}

/** One page batch as its channel thread sent it. */
export interface BatchSample {
  compression: PageCompression;
  /** Guest memory the batch covered (pages x 4096). */
  pageBytes: number;
  /** The frame's length. */
  wireBytes: number;
  /**
   * Of the pages, those the compression applied to (PageBatchWriter.compressibleBytesIn), and their entries'
   * bytes: zero, same-byte, delta and random pages cost the same under every compression, so the estimates
   * leave them out, or a batch of zero pages would make its compression look best.
   */
  compressibleBytes: number;
  compressibleWireBytes: number;
  /** From the batch's first page to its frame handed over: encoding and sending. */
  wallMs: number;
  /** Of that, the time spent waiting to send: the socket draining, or the rate limit. */
  waitMs: number;
}

/** Weight of the newest sample in each running estimate. */
const SMOOTHING = 0.25;
/** Under `auto`, one batch in this many refreshes the estimate of a compression not chosen lately. */
const EXPLORE_EVERY = 16;
/**
 * What the kernel may take before a send waits: Linux's largest TCP send buffer by default (tcp_wmem, 4 MiB).
 * Until a channel has written more, a batch that did not wait says nothing about the link.
 */
const SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** Batches over which the link's pace is judged. */
const LINK_WINDOW = 8;
/** Batches that waited at least this share of their time to send were held back by the link. */
const LINK_BOUND_SHARE = 0.2;

/** What one compression costs, as measured on this channel's recent batches. */
interface Estimate {
  /** Page bytes encoded per ms of this thread's own time (the core it has, shared as it is). */
  encodeRate: number;
  /** Wire bytes per page byte. */
  wireRatio: number;
  /** Batch number of the newest sample (-1: none yet). */
  sampledAt: number;
}

/**
 * Chooses how each page batch of one data channel is compressed. A fixed `--compress` mode is used as is; `auto`
 * sends each batch the way that finishes sooner, from what the channel measured while the migration ran:
 *
 *   time per page byte under c = max(1 / encodeRate(c), wireRatio(c) / linkRate)
 *
 * (the thread encodes the next batch while the kernel sends the last, so the slower of the two sets the pace).
 * The link rate is the channel's wire throughput over its last 8 batches when they waited to send (the link was
 * the bottleneck); batches that did not wait, once the send buffers could be full, only show the link is at
 * least that fast. Until the link is measured it is taken as slow (fewest bytes first). When the link outruns every
 * compressor, raw (`none`) wins; on a slow link the compressor that leaves fewest bytes does. MECOM (Jin et al.)
 * chose the compressor by page content; this adds the link and the cores, measured, as the content may change.
 *
 * Each compression is tried once at the start, and one batch in EXPLORE_EVERY retries the one sampled longest ago,
 * so the estimates follow the content and the link as they change.
 */
export class CompressionChoice {
  readonly #mode: CompressMode;
  readonly #candidates: readonly PageCompression[];
  readonly #estimates = new Map<PageCompression, Estimate>();
  /** Wire bytes per ms the link carried (0: not measured yet). */
  #linkRate = 0;
  /** Whether a batch has waited for the link yet (before, the link rate is only a lower bound). */
  #linkBound = false;
  /** Wire bytes this channel has sent. */
  #written = 0;
  /** The last LINK_WINDOW batches. */
  readonly #window: BatchSample[] = [];
  #batch = 0;
  /** Batches per compression since the last takeCounts(). */
  #counts = emptyBatchCounts();

  /** `zstd`: whether the destination reads ZstdRun entries; without, `zstd` falls back to lz4 and `auto` skips it. */
  constructor(mode: CompressMode, zstd: boolean) {
    this.#mode = mode === 'zstd' && !zstd ? 'lz4' : mode;
    this.#candidates = zstd ? ['none', 'lz4', 'zstd'] : ['none', 'lz4'];
  }

  /** The link's wire bytes per ms as estimated now (0 until a batch was sent). */
  get linkRate(): number {
    return this.#linkRate;
  }

  /** Whether the link has held this channel's batches back (then `linkRate` is its measured pace). */
  get linkBound(): boolean {
    return this.#linkBound;
  }

  /** The compression for the next batch. */
  next(): PageCompression {
    const mode = this.#mode;
    if (mode !== 'auto') return mode;
    const batch = this.#batch;
    const unsampled = this.#candidates.find((c) => !this.#estimates.has(c));
    if (unsampled !== undefined) return unsampled;
    const best = this.best();
    if (batch % EXPLORE_EVERY === EXPLORE_EVERY - 1) {
      const stalest = this.#candidates
        .filter((c) => c !== best)
        .reduce((a, b) => (this.#estimates.get(a)!.sampledAt <= this.#estimates.get(b)!.sampledAt ? a : b));
      return stalest;
    }
    return best;
  }

  /** The compression whose estimated time per page byte is least now. */
  best(): PageCompression {
    let best: PageCompression = 'none';
    let bestCost = Infinity;
    for (const c of this.#candidates) {
      const cost = this.costPerByte(c);
      if (cost < bestCost) [best, bestCost] = [c, cost];
    }
    return best;
  }

  /** Estimated ms per page byte under `c` (Infinity while it has no sample). */
  costPerByte(c: PageCompression): number {
    const e = this.#estimates.get(c);
    if (!e) return Infinity;
    const encode = 1 / e.encodeRate;
    // A link not measured yet is taken as slow: the fewest bytes win until it shows it is faster.
    return this.#linkRate > 0 ? Math.max(encode, e.wireRatio / this.#linkRate) : e.wireRatio;
  }

  /** Learns from a batch just sent. */
  sent(sample: BatchSample): void {
    this.#counts[sample.compression] += 1;
    const batch = this.#batch++;
    if (sample.wallMs <= 0) return;
    if (sample.compressibleBytes > 0) {
      // The batch's own time, all of it counted against the compressible pages: the rest costs alike everywhere.
      const ownMs = Math.max(sample.wallMs - sample.waitMs, 0.001);
      const encodeRate = sample.compressibleBytes / ownMs;
      const wireRatio = sample.compressibleWireBytes / sample.compressibleBytes;
      const old = this.#estimates.get(sample.compression);
      this.#estimates.set(sample.compression, {
        encodeRate: old ? blend(old.encodeRate, encodeRate) : encodeRate,
        wireRatio: old ? blend(old.wireRatio, wireRatio) : wireRatio,
        sampledAt: batch,
      });
    }
    this.#written += sample.wireBytes;
    // The link is judged over the last LINK_WINDOW batches, not one: a send waits in bursts (until the queue
    // drains), so one batch waits long and the next few do not, and only together do they show the link's pace.
    this.#window.push(sample);
    if (this.#window.length > LINK_WINDOW) this.#window.shift();
    let [wire, wall, wait] = [0, 0, 0];
    for (const b of this.#window) [wire, wall, wait] = [wire + b.wireBytes, wall + b.wallMs, wait + b.waitMs];
    const batchRate = sample.wireBytes / sample.wallMs;
    if (wait >= LINK_BOUND_SHARE * wall) {
      this.#linkRate = wire / wall;
      this.#linkBound = true;
    } else if (this.#written > SEND_BUFFER_BYTES && batchRate > this.#linkRate) {
      // Only a lower bound, and only once the send buffers could be full: before, batches that did not wait may
      // just have gone into them. After the link has held batches back, it raises the estimate gradually.
      this.#linkRate = this.#linkBound ? blend(this.#linkRate, batchRate) : batchRate;
    }
  }

  /** Batches per compression since the last call. */
  takeCounts(): BatchCounts {
    const counts = this.#counts;
    this.#counts = emptyBatchCounts();
    return counts;
  }
}

function blend(old: number, sample: number): number {
  return old + SMOOTHING * (sample - old);
}
