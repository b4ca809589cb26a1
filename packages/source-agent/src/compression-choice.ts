import type { PageCompression } from '@livemig/protocol';

/** `--compress`: a fixed compression for every batch, or `auto`, chosen batch by batch (CompressionChoice). */
export const COMPRESS_MODES = ['auto', 'none', 'lz4', 'zstd'] as const;
export type CompressMode = (typeof COMPRESS_MODES)[number];
export const DEFAULT_COMPRESS: CompressMode = 'auto';

export function isCompressMode(value: string): value is CompressMode {
  return (COMPRESS_MODES as readonly string[]).includes(value);
}

/**
 * zstd levels `auto` climbs through on a link slow enough: 1 (the level of `--compress zstd`), then 3, 6, 9. On
 * 16-page runs of the bench's `real` image here (one core) each step left 4 %, 6 % and 2 % fewer bytes, at 0.8x,
 * 0.3x and 0.55x the encode rate of the step before (page-zstd.ts); level 12 and above encode at 24 MB/s or
 * less, slower than even a 100 Mbit/s link needs of one channel.
 */
export const ZSTD_LEVELS = [1, 3, 6, 9] as const;
type ZstdLevel = (typeof ZSTD_LEVELS)[number];

/**
 * Page batches sent under each compression, as a round's report shows the choice: `zstd` counts every zstd
 * batch, `zstd3`, `zstd6` and `zstd9` those of them at that level (the rest were level 1).
 */
export type BatchCounts = Record<PageCompression | 'zstd3' | 'zstd6' | 'zstd9', number>;

export function emptyBatchCounts(): BatchCounts {
  return { none: 0, lz4: 0, zstd: 0, zstd3: 0, zstd6: 0, zstd9: 0 };
}

/** One way to send a batch: a compression, and for zstd its level. */
interface Candidate {
  compression: PageCompression;
  level: ZstdLevel;
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
  /**
   * Of the wait, the time the rate limit (--max-bandwidth) held the batch: a link of its own, even to a
   * destination on this host (0 without a limit).
   */
  limitWaitMs: number;
}

/** Weight of the newest sample in each running estimate. */
const SMOOTHING = 0.25;
/**
 * Encode rates kept per way; the estimate is their median. A batch's own time includes any time its thread was
 * descheduled, which on a shared core made like batches take 0.9 to 102 ms (a traced run at load 17): one such
 * batch would move a running mean by 25x, the median not at all.
 */
const RATE_SAMPLES = 5;
/**
 * Under `auto`, at most one batch in EXPLORE_EVERY retries a way not chosen lately, and a way estimated r times
 * slower than the best only after EXPLORE_EVERY x r^2 batches (at most MAX_EXPLORE_GAP): a retry costs r - 1
 * batches' worth of extra time, so each way's retries cost at most 1/(4 x EXPLORE_EVERY) of the time spent the
 * best way (raw on a 100 Mbit/s link is 5x zstd's time; zstd on loopback 7x raw's), and ways about as good as the
 * best, cheap to retry, are retried often.
 */
const EXPLORE_EVERY = 16;
const MAX_EXPLORE_GAP = 512;
/**
 * What the destination's decoding costs per page byte, as a share of the source's encoding of the same bytes
 * under that compression. The source cannot see the destination's cores, so this is measured here, not live, and
 * the larger of two measurements is taken: on 16-page runs of the bench's `real` image lz4 decoded in 0.27 of its
 * encode time and zstd level 1 in 0.4; on `incr` pages (zero but for one byte; `bench encode`, issue 11) lz4 in
 * 0.35 and zstd in 0.83 (levels 3-9 decode as fast as level 1, so their share is smaller still). Raw pages are
 * read straight into guest memory: that is the wire's cost.
 */
const DECODE_SHARE: Record<PageCompression, number> = { none: 0, lz4: 0.35, zstd: 0.83 };
/**
 * What a channel may hand over before a send waits: FramedSocket queues 4 MiB in user space, and the kernel's TCP
 * send buffer takes up to 4 MiB more (tcp_wmem). Until a channel has written more, a batch that did not wait says
 * nothing about the link.
 */
const SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/**
 * Wire bytes over which the link's pace is judged: a send waits in bursts (until the user-space queue has drained
 * whole, then 4 MiB go in without a wait), so only a window over more than one burst shows the link's pace.
 */
const LINK_WINDOW_BYTES = 16 * 1024 * 1024;
/** Batches that waited at least this share of their time to send were held back by the link. */
const LINK_BOUND_SHARE = 0.2;

/** What one way of sending costs, as measured on this channel's recent batches. */
interface Estimate {
  /** Page bytes encoded per ms of this thread's own time (the core it has, shared as it is): the median of `rates`. */
  encodeRate: number;
  /** The latest RATE_SAMPLES encode rates. */
  rates: number[];
  /** Wire bytes per page byte. */
  wireRatio: number;
  /** Batch number of the newest sample. */
  sampledAt: number;
}

/**
 * Chooses how each page batch of one data channel is compressed. A fixed `--compress` mode is used as is (zstd at
 * level 1); `auto` sends each batch the way that finishes sooner, from what the channel measured while the
 * migration ran. Per way c, from this thread's batches: encode(c), ms per page byte on its own core; decode(c),
 * the destination's, as DECODE_SHARE of encode(c); wire(c), wire bytes per page byte over the link's rate. Then
 * the time per page byte is
 *
 *   link holding batches back:  max(encode, decode, wire)   the link is a stage of its own: the slowest sets the
 *                                                           pace (the thread encodes the next batch while the
 *                                                           kernel sends the last)
 *   otherwise (a fast link):    encode + decode + wire      the cores are the bottleneck, and the same cores do
 *                                                           all three (the kernel copies the wire bytes at both
 *                                                           ends); wire at the rate the link has shown so far, a
 *                                                           lower bound, or 0 before the send buffers could fill
 *
 * The link rate is the channel's wire throughput over its latest 16 MiB of wire when those batches waited to send
 * for at least a fifth of their time; batches that did not wait, once the send buffers could be full, only show the link is at
 * least that fast. So a link that never holds a batch back is fast and the cores' cost decides (raw or lz4 on
 * loopback; zstd only where it measurably costs less), and a slow one is found by its first waits.
 *
 * zstd climbs levels (ZSTD_LEVELS) only while the link holds batches back and the level below still encodes
 * faster than the link carries its bytes: then a slower, denser level may still keep up. MECOM (Jin et al.) chose
 * the compressor by page content; this adds the link and the cores, measured, as the content may change.
 *
 * Each compression is tried once at the start; a way not chosen is retried now and then (EXPLORE_EVERY), so the
 * estimates follow the content and the link as they change.
 */
export class CompressionChoice {
  readonly #mode: CompressMode;
  /** Ways `auto` may use, cheapest level first. */
  readonly #candidates: readonly Candidate[];
  readonly #estimates = new Map<Candidate, Estimate>();
  /** The way of the batch being built (what next() returned). */
  #current: Candidate;
  /** The zstd level the thread's encoder is set to: batches of other ways in between leave it as it was. */
  #appliedLevel = 1;
  /** Wire bytes per ms the link carried (0: not measured yet). */
  #linkRate = 0;
  /** Whether the link has held this channel's batches back (then `linkRate` is its measured pace). */
  #linkBound = false;
  /** Wire bytes this channel has sent. */
  #written = 0;
  /** The latest batches, as many as make LINK_WINDOW_BYTES, and their sums. */
  readonly #window: BatchSample[] = [];
  /** Sums over `window`; `wait` is the link's share of the waits (#linkWaitMs). */
  #windowSums = { wire: 0, wall: 0, wait: 0 };
  #batch = 0;
  /** Batch number of the last retry of a way not chosen. */
  #lastRetry = 0;
  /** Batches per compression since the last takeCounts(). */
  #counts = emptyBatchCounts();

  /**
   * `zstd`: whether the destination reads ZstdRun entries; without, `zstd` falls back to lz4 and `auto` skips it.
   * `setLevel`: applies a zstd level to the thread's encoder (page-zstd's setZstdLevel; tests pass their own).
   * `loopback`: the destination is on this host (isLoopbackHost). There is no link then: a send that waits for the
   * socket waits for the destination's cores, which compression only gives more work (decoding), so only the rate
   * limit's waits (limitWaitMs) count as the link holding batches back; without a limit the cores' cost decides.
   */
  constructor(
    mode: CompressMode,
    zstd: boolean,
    private readonly setLevel: (level: number) => void = () => {},
    private readonly loopback = false,
  ) {
    this.#mode = mode === 'zstd' && !zstd ? 'lz4' : mode;
    const base: Candidate[] = [
      { compression: 'none', level: 1 },
      { compression: 'lz4', level: 1 },
    ];
    this.#candidates = zstd ? [...base, ...ZSTD_LEVELS.map((level) => ({ compression: 'zstd' as const, level }))] : base;
    this.#current = this.#candidates.find((c) => c.compression === this.#mode) ?? this.#candidates[0]!;
  }

  /** The link's wire bytes per ms as estimated now (0 until a batch was sent). */
  get linkRate(): number {
    return this.#linkRate;
  }

  /** Whether the link has held this channel's batches back (then `linkRate` is its measured pace). */
  get linkBound(): boolean {
    return this.#linkBound;
  }

  /** The zstd level of the batch being built (1 unless `auto` climbed). */
  get zstdLevel(): number {
    return this.#current.level;
  }

  /** The compression for the next batch (and, under zstd, the level it sets through `setLevel`). */
  next(): PageCompression {
    if (this.#mode !== 'auto') return this.#mode;
    const chosen = this.#nextCandidate();
    if (chosen.compression === 'zstd' && chosen.level !== this.#appliedLevel) {
      this.setLevel(chosen.level);
      this.#appliedLevel = chosen.level;
    }
    this.#current = chosen;
    return chosen.compression;
  }

  #nextCandidate(): Candidate {
    // Every compression once at the start, and a zstd level as soon as the link shows it may pay.
    const unsampled = this.#candidates.find((c) => !this.#estimates.has(c) && this.#mayTry(c));
    if (unsampled !== undefined) return unsampled;
    const best = this.#bestCandidate();
    if (this.#batch - this.#lastRetry < EXPLORE_EVERY) return best;
    const bestCost = this.#cost(best);
    let retry: Candidate | undefined;
    let retryDue = Infinity;
    for (const c of this.#candidates) {
      if (c === best || !this.#estimates.has(c) || !this.#mayTry(c)) continue;
      const slower = Math.max(this.#cost(c) / bestCost, 1);
      const due = this.#estimates.get(c)!.sampledAt + Math.min(EXPLORE_EVERY * slower * slower, MAX_EXPLORE_GAP);
      if (due <= this.#batch && due < retryDue) [retry, retryDue] = [c, due];
    }
    if (retry === undefined) return best;
    this.#lastRetry = this.#batch;
    return retry;
  }

  /** Levels above 1 while the link holds batches back and the level below encodes faster than the link carries its bytes. */
  #mayTry(c: Candidate): boolean {
    if (c.level === 1) return true;
    if (!this.#linkBound) return false;
    const below = this.#candidates[this.#candidates.indexOf(c) - 1]!;
    const e = this.#estimates.get(below);
    return e !== undefined && 1 / e.encodeRate < e.wireRatio / this.#linkRate;
  }

  /** The compression whose estimated time per page byte is least now. */
  best(): PageCompression {
    return this.#bestCandidate().compression;
  }

  #bestCandidate(): Candidate {
    let best = this.#candidates[0]!;
    let bestCost = Infinity;
    for (const c of this.#candidates) {
      const cost = this.#cost(c);
      if (cost < bestCost) [best, bestCost] = [c, cost];
    }
    return best;
  }

  /** Estimated ms per page byte under `c` at its best level (Infinity while it has no sample). */
  costPerByte(c: PageCompression): number {
    return Math.min(...this.#candidates.filter((k) => k.compression === c).map((k) => this.#cost(k)));
  }

  #cost(c: Candidate): number {
    const e = this.#estimates.get(c);
    if (!e) return Infinity;
    const encode = 1 / e.encodeRate;
    const decode = DECODE_SHARE[c.compression] * encode;
    const wire = this.#linkRate > 0 ? e.wireRatio / this.#linkRate : 0;
    return this.#linkBound ? Math.max(encode, decode, wire) : encode + decode + wire;
  }

  /** Learns from a batch just sent (built the way next() said). */
  sent(sample: BatchSample): void {
    const way = sample.compression === this.#current.compression ? this.#current : this.#candidates.find((c) => c.compression === sample.compression);
    this.#counts[sample.compression] += 1;
    if (way?.compression === 'zstd' && way.level !== 1) this.#counts[`zstd${way.level}`] += 1;
    const batch = this.#batch++;
    if (sample.wallMs <= 0) return;
    if (sample.compressibleBytes > 0 && way !== undefined) {
      // The batch's own time, all of it counted against the compressible pages: the rest costs alike everywhere.
      const ownMs = Math.max(sample.wallMs - sample.waitMs, 0.001);
      const encodeRate = sample.compressibleBytes / ownMs;
      // The writer counts a direct batch's raw pages at their full size too (they go beside the frame).
      const wireRatio = sample.compressibleWireBytes / sample.compressibleBytes;
      const old = this.#estimates.get(way);
      const rates = [...(old?.rates ?? []), encodeRate].slice(-RATE_SAMPLES);
      this.#estimates.set(way, {
        encodeRate: median(rates),
        rates,
        wireRatio: old ? blend(old.wireRatio, wireRatio) : wireRatio,
        sampledAt: batch,
      });
    }
    this.#written += sample.wireBytes;
    this.#judgeLink(sample);
  }

  /**
   * The link is judged over the latest LINK_WINDOW_BYTES of wire, not one batch: a send waits in bursts (one batch
   * waits for the queue to drain, and the next megabytes do not), and only together do they show the link's pace.
   */
  #judgeLink(sample: BatchSample): void {
    const window = this.#window;
    const sums = this.#windowSums;
    window.push(sample);
    [sums.wire, sums.wall, sums.wait] = [sums.wire + sample.wireBytes, sums.wall + sample.wallMs, sums.wait + this.#linkWaitMs(sample)];
    while (window.length > 1 && sums.wire - window[0]!.wireBytes >= LINK_WINDOW_BYTES) {
      const old = window.shift()!;
      [sums.wire, sums.wall, sums.wait] = [sums.wire - old.wireBytes, sums.wall - old.wallMs, sums.wait - this.#linkWaitMs(old)];
    }
    const windowRate = sums.wire / sums.wall;
    if (sums.wait >= LINK_BOUND_SHARE * sums.wall) {
      // Lowered only when this batch waited too: batches that did not wait may have spent their time encoding
      // (a dense zstd level slower than the link), and would make the link look as slow as the encoder.
      const waited = this.#linkWaitMs(sample) >= LINK_BOUND_SHARE * sample.wallMs;
      this.#linkRate = waited || !this.#linkBound ? windowRate : Math.max(this.#linkRate, windowRate);
      this.#linkBound = true;
    } else if (this.#written > SEND_BUFFER_BYTES && windowRate > this.#linkRate) {
      // Only a lower bound, and only once the send buffers could be full: before, batches that did not wait may
      // just have gone into them.
      this.#linkRate = windowRate;
    }
  }

  /**
   * The rate limit was lifted (stop-and-copy: with the guest parked a slower send only lengthens the downtime).
   * On loopback its waits were the only link, so a link it made is forgotten and the cores' cost decides, as
   * without a limit. Elsewhere the waits were partly the socket's, the link's own: kept. Returns whether the
   * choice changed (then the next batch's compression should be asked for again).
   */
  limitLifted(): boolean {
    if (!this.loopback || !this.#linkBound) return false;
    this.#linkBound = false;
    this.#linkRate = 0;
    this.#window.length = 0;
    this.#windowSums = { wire: 0, wall: 0, wait: 0 };
    return true;
  }

  /** The part of a batch's wait that was the link's: on loopback only the rate limit's (see the constructor). */
  #linkWaitMs(sample: BatchSample): number {
    return this.loopback ? sample.limitWaitMs : sample.waitMs;
  }

  /** Batches per compression since the last call. */
  takeCounts(): BatchCounts {
    const counts = this.#counts;
    this.#counts = emptyBatchCounts();
    return counts;
  }
}

/** Whether `host` names this host's loopback interface (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function blend(old: number, sample: number): number {
  return old + SMOOTHING * (sample - old);
}
