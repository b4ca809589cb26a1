import { BadArgumentError, DEFAULT_BATCH_PAYLOAD, FRAME_HEADER_BYTES } from '@livemig/protocol';

/**
 * The migration-wide bandwidth limit (--max-bandwidth, QEMU's max-bandwidth): one token bucket over every
 * stream of a migration, shared by the main thread and every channel worker through a SharedArrayBuffer, and
 * changeable while the migration runs (setRate, from any thread).
 *
 * Algorithm: GCRA (virtual scheduling), kept in bytes rather than in time:
 *
 *   - A(t), the allowance, is how many bytes the limit has allowed since the anchor:
 *       A(t) = anchorBytes + (t - anchorTime) * rate / 1e9        (t in ns of process.hrtime.bigint()).
 *   - R, the reservation counter, is where the last reservation ends (bytes). A take of `b` bytes reserves
 *       start = max(R, floor(A(now))), end = start + b           (one Atomics.compareExchange on R)
 *     and may go once A(t) + burst >= end. Flooring R up to A(now) is what caps the idle credit at `burst`.
 *
 * This is exactly GCRA's TAT (TAT = the time at which A reaches R), but a reservation is a position in byte
 * space, which does not depend on the rate. That is the point: when the rate changes, setRate re-anchors A
 * at the current time (A is continuous, only its slope changes), and every sender already sleeping on a
 * reservation made under the old rate simply recomputes its wake-up time from the new anchor: the bytes
 * queued ahead of it now drain at the new rate. Nothing has to be rescaled or re-reserved, and reservations
 * stay in FIFO order. A TAT kept in ns would have to be rescaled on every rate change, and a sleeper would
 * have no way to learn its new wake-up time from a TAT that others keep moving.
 *
 * Pay before, not after: a take resolves when its own bytes conform (A(t) + burst >= end), so over any
 * interval [t1, t2] the bytes released are at most rate * (t2 - t1) + max(burst, largest take). (Resolving
 * at `start`, i.e. paying after sending, would add one more take's worth to that bound.)
 *
 * Sleeping uses setTimeout, never Atomics.wait: a channel worker's event loop must keep serving its socket.
 * A sleeper wakes at least every SLICE_MS to re-read the anchor, so a rate raised while it sleeps on a long
 * reservation lets it go on within about SLICE_MS plus the time its queued bytes take at the new rate; a rate
 * lowered while it sleeps makes it sleep longer. (Atomics.waitAsync could wake sleepers at once, but a 50 ms
 * poll per sleeping channel costs nothing and keeps this simple.)
 *
 * Clock: process.hrtime.bigint() is CLOCK_MONOTONIC, the same clock in every thread of the process;
 * performance.now() counts from each worker's own start and must not be used here.
 *
 * The anchor (anchorBytes, anchorTime, rate) is three words, read together by takers and written together
 * by setRate. It is double-buffered: setRate (serialised by a small writer lock) fills the slot not in use and
 * then publishes it by incrementing GEN; a reader reads GEN, the slot GEN selects, and GEN again, and retries
 * only if a new anchor was published meanwhile. Takers therefore never spin on a writer, not even one that
 * was descheduled or terminated halfway through setRate.
 *
 * Byte counters are int64 in the buffer and Numbers in arithmetic: exact up to 2^53 bytes (9 PB), i.e. more
 * than ten days at 10 GB/s. Use one limiter per migration.
 */
export interface SharedRateLimiterOptions {
  /**
   * Bytes that may go at once after an idle gap (the bucket's depth). Default: one page batch's frame
   * (MIN_BURST_BYTES) or 10 ms at the current rate, whichever is larger (recomputed when the rate changes).
   */
  burstBytes?: number;
}

/** Longest sleep before a sleeper re-reads the rate. */
const SLICE_MS = 50;
/**
 * Default burst: at least this many bytes (one page batch's frame) ... With less, every batch would wait for its
 * own bytes beyond the burst even when its channel thread encodes slower than the limit (pay before), and to
 * `--compress auto` that wait looks like a link holding batches back: it then takes the channel's own pace for the
 * link's and climbs zstd levels the cores cannot afford. A link's send buffer takes a batch without a wait.
 */
const MIN_BURST_BYTES = FRAME_HEADER_BYTES + DEFAULT_BATCH_PAYLOAD;
/** ... or this long at the current rate. */
const BURST_SECONDS = 0.01;

// Layout of the shared BigInt64Array.
const MAGIC = 0;
const RESERVED = 1; // R: where the last reservation ends, bytes
const BURST = 2; // burstBytes, or -1 for the rate-dependent default
const LOCK = 3; // setRate's writer lock: 0 free, 1 held
const GEN = 4; // generation of the anchor in use; slot = GEN & 1
const SLOTS = 5; // two slots of [anchorBytes, anchorTime ns, rate as float64 bits]
const WORDS = SLOTS + 6;
const MAGIC_VALUE = 0x4c4d_5241_5445_0001n; // "LMRATE" v1

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);
const rateToBits = (rate: number): bigint => ((f64[0] = rate), i64[0]!);
const bitsToRate = (bits: bigint): number => ((i64[0] = bits), f64[0]!);

interface Anchor {
  bytes: number;
  time: bigint;
  /** Bytes per second; 0 = unlimited. */
  rate: number;
}

export class SharedRateLimiter {
  /** Pass this to worker threads and SharedRateLimiter.attach it there. */
  readonly buffer: SharedArrayBuffer;
  private readonly state: BigInt64Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.state = new BigInt64Array(buffer);
  }

  /**
   * A new limiter at `bytesPerSecond` (0 = unlimited).
   * @throws BadArgumentError for a negative or non-finite rate or a burst that is not a non-negative integer.
   */
  static create(bytesPerSecond: number, options: SharedRateLimiterOptions = {}): SharedRateLimiter {
    checkRate(bytesPerSecond);
    const burst = options.burstBytes;
    if (burst !== undefined && !(Number.isSafeInteger(burst) && burst >= 0)) {
      throw new BadArgumentError(`burstBytes must be a non-negative integer, got ${burst}`);
    }
    const limiter = new SharedRateLimiter(new SharedArrayBuffer(WORDS * 8));
    const s = limiter.state;
    s[BURST] = burst === undefined ? -1n : BigInt(burst);
    s[SLOTS] = 0n;
    s[SLOTS + 1] = process.hrtime.bigint();
    s[SLOTS + 2] = rateToBits(bytesPerSecond);
    // Publish with a seq-cst store: a worker attaching later sees everything written above.
    Atomics.store(s, MAGIC, MAGIC_VALUE);
    return limiter;
  }

  /** The limiter whose `buffer` this is (in a worker thread). @throws BadArgumentError for any other buffer. */
  static attach(buffer: SharedArrayBuffer): SharedRateLimiter {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== WORDS * 8) {
      throw new BadArgumentError('not a SharedRateLimiter buffer: expected the .buffer of SharedRateLimiter.create');
    }
    const limiter = new SharedRateLimiter(buffer);
    if (Atomics.load(limiter.state, MAGIC) !== MAGIC_VALUE) {
      throw new BadArgumentError('not a SharedRateLimiter buffer: bad magic');
    }
    return limiter;
  }

  /** Bytes per second; 0 = unlimited. */
  get rate(): number {
    return this.anchor().rate;
  }

  /**
   * Changes the limit, from any thread, at once: later takes, and takes already waiting, are paced at the
   * new rate from now on (bytes already released are not recalled). 0 lifts the limit: every waiting take
   * resolves within SLICE_MS. @throws BadArgumentError for a negative or non-finite rate.
   */
  setRate(bytesPerSecond: number): void {
    checkRate(bytesPerSecond);
    const s = this.state;
    // The writer lock only serialises setRate calls (rare, and a few stores long); takers never take it.
    while (Atomics.compareExchange(s, LOCK, 0n, 1n) !== 0n) {
      // another thread is in setRate right now
    }
    try {
      const gen = Atomics.load(s, GEN);
      const old = this.slot(gen);
      const now = process.hrtime.bigint();
      // Re-anchor at A(now) so that A stays continuous. Coming from unlimited, A is meaningless: start at R,
      // which gives a full burst of credit and no backlog.
      const bytes = old.rate > 0 ? Math.floor(allowance(old, now)) : Number(Atomics.load(s, RESERVED));
      const next = SLOTS + 3 * Number((gen + 1n) & 1n);
      Atomics.store(s, next, BigInt(bytes));
      Atomics.store(s, next + 1, now);
      Atomics.store(s, next + 2, rateToBits(bytesPerSecond));
      Atomics.store(s, GEN, gen + 1n);
    } finally {
      Atomics.store(s, LOCK, 0n);
    }
  }

  /**
   * Resolves when `bytes` more may be sent under the limit (at once when the rate is 0 or `bytes` is 0).
   * Call it right before sending, for every frame of every stream of the migration.
   * Rejects with BadArgumentError for `bytes` that is not a non-negative integer, and with `signal.reason`
   * when `signal` aborts first; an aborted take gives its reservation back if no later take was queued
   * behind it.
   */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) {
      throw new BadArgumentError(`rate limiter: bytes must be a non-negative integer, got ${bytes}`);
    }
    signal?.throwIfAborted();
    if (bytes === 0) return;
    const s = this.state;

    // Reserve [start, end) in byte space.
    let end: number;
    for (;;) {
      const anchor = this.anchor();
      if (anchor.rate === 0) return;
      const reserved = Atomics.load(s, RESERVED);
      const start = Math.max(Number(reserved), Math.floor(allowance(anchor, process.hrtime.bigint())));
      end = start + bytes;
      if (Atomics.compareExchange(s, RESERVED, reserved, BigInt(end)) === reserved) break;
    }

    // Wait until A(t) + burst >= end, re-reading the rate at least every SLICE_MS.
    try {
      for (;;) {
        signal?.throwIfAborted();
        const anchor = this.anchor();
        if (anchor.rate === 0) return;
        const deficit = end - this.burst(anchor.rate) - allowance(anchor, process.hrtime.bigint());
        if (deficit <= 0) return;
        // setTimeout may fire up to ~1 ms early against hrtime (libuv's cached, ms-truncated clock): round up,
        // and the loop checks again anyway.
        const ms = Math.min(SLICE_MS, Math.max(1, Math.ceil((deficit * 1000) / anchor.rate)));
        await sleep(ms, signal);
      }
    } catch (error) {
      // Aborted: these bytes will not be sent. Give them back unless someone has reserved after us (their
      // positions are fixed: a hole cannot be punched before them).
      Atomics.compareExchange(s, RESERVED, BigInt(end), BigInt(end - bytes));
      throw error;
    }
  }

  private burst(rate: number): number {
    const fixed = Atomics.load(this.state, BURST);
    return fixed >= 0n ? Number(fixed) : Math.max(MIN_BURST_BYTES, rate * BURST_SECONDS);
  }

  /** The anchor in use, consistent (see the class comment on double-buffering). */
  private anchor(): Anchor {
    const s = this.state;
    for (;;) {
      const gen = Atomics.load(s, GEN);
      const anchor = this.slot(gen);
      if (Atomics.load(s, GEN) === gen) return anchor;
    }
  }

  private slot(gen: bigint): Anchor {
    const s = this.state;
    const at = SLOTS + 3 * Number(gen & 1n);
    return {
      bytes: Number(Atomics.load(s, at)),
      time: Atomics.load(s, at + 1),
      rate: bitsToRate(Atomics.load(s, at + 2)),
    };
  }
}

/** A(t): bytes allowed since the anchor, fractional. */
function allowance(anchor: Anchor, now: bigint): number {
  return anchor.bytes + (Number(now - anchor.time) * anchor.rate) / 1e9;
}

function checkRate(bytesPerSecond: number): void {
  if (!(typeof bytesPerSecond === 'number' && Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0)) {
    throw new BadArgumentError(`max bandwidth must be a finite number of bytes per second >= 0 (0 = unlimited), got ${bytesPerSecond}`);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (!signal) {
      setTimeout(resolve, ms);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
