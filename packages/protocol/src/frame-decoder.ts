import { DEFAULT_BATCH_PAYLOAD, DEFAULT_MAX_FRAME_PAYLOAD, FRAME_HEADER_BYTES, FrameType, PAGE_SIZE } from './constants.js';
import { planRawReads, type RawReadPlan } from './direct-raw-placement.js';
import { BadArgumentError, TruncatedFrameError } from './errors.js';
import { checkCrc, frameCrc, readFrameHeader, type FrameHeader } from './frame-header.js';
import { decodeMessagePayload, type Frame } from './messages.js';
import { pageBatchFrameCrc } from './page-batch-crc.js';
import { checkDirectBatchFrame, directRawPageCrcs } from './direct-raw-crcs.js';
import { DIRECT_ENTRIES_START, checkDirectHead, directRawAt } from './page-batch-direct.js';
import type { PageBatchSlotSink } from './page-batch-reader.js';

/** Released frame copies kept for reuse, per decoder. */
const MAX_FREE_FRAMES = 4;
/** Frame copies are at least this big (a full default page batch), so one released copy fits any later batch. */
const REUSABLE_FRAME_BYTES = FRAME_HEADER_BYTES + DEFAULT_BATCH_PAYLOAD;
/** Where a PageBatchDirect's counts end in its frame. */
const DIRECT_COUNTS_END = FRAME_HEADER_BYTES + DIRECT_ENTRIES_START;
/**
 * After a PageBatchDirect whose raw pages could not be placed (no run long enough), the next ones are read whole
 * (two reads fewer each: reads cost more than the copies they would save, measured), all but every this many,
 * which look again. A channel's batches tend to be alike: a random region gives long runs batch after batch.
 */
const PROBE_EVERY_BATCHES = 16;

/**
 * A frame that spans reads or chunks, once its header has been validated: its own buffer and how much is
 * filled. With owned reads, `stop` is where the current read must end: a PageBatchDirect that may be placed is
 * read in steps (`step`): its counts, its entries, then (`raw`: the frame check of its head has passed) its raw
 * region as `plan` says. Any other frame is read `whole`.
 */
interface Spanning {
  header: FrameHeader;
  frame: Buffer;
  filled: number;
  stop: number;
  step: 'whole' | 'counts' | 'entries' | 'raw';
  plan?: RawReadPlan;
  segment: number;
}

/**
 * Streaming frame decoder (pg-protocol Parser / undici ByteParser): per frame, "is the header here? is the
 * whole frame here? dispatch". A frame lying wholly inside one chunk is decoded in place; only a frame that
 * spans chunks is copied, into a buffer sized from its validated header.
 *
 * Ownership: a PageBatch frame's `payload` is either a view into the chunk passed to `push` or into that
 * frame's own copy. The decoder never writes to a chunk, so the caller may keep the payload as long as it
 * likes (provided it does not itself reuse the chunks it pushes), unless it hands the frame back with
 * `release`: then that frame's copy, if it had one, serves a later spanning frame. A receiver that applies
 * each page batch and releases it allocates a few frame buffers for a whole migration instead of one per
 * frame (a 1 GiB image is 4,000 of them: garbage that grew the destination's resident memory by ~20 %).
 *
 * Two ways to feed it. `push(chunk)` takes the chunks a socket made (its 'data' events). `readTarget()` and
 * `commitRead(n)` let the socket read into buffers the decoder owns (Node's `onread` option, see
 * agent-runtime's owned-reads.ts): the header of each frame is read into a 16-byte buffer of the decoder, then
 * the rest of the frame straight into that frame's buffer (a released one when one is big enough), so no
 * frame is reassembled from chunks and no buffer is allocated per read. Never mix the two on one decoder.
 *
 * A decode error is fatal: the decoder remembers it, and every later `push` or `end` throws it again. There is
 * no resynchronisation; the caller should log the error's code and destroy the connection. Frames that the
 * same chunk completed before the bad bytes are not lost: that `push` returns them, and the error is then
 * `error` (and thrown by the next call), so the caller delivers them first, then fails.
 */
export class FrameDecoder {
  readonly #maxPayloadBytes: number;
  /** Header bytes of a frame that spans chunks, gathered until all 16 are here. */
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  /** A frame that spans chunks, once its header has been validated: its own buffer and how much is filled. */
  #spanning: Spanning | undefined;
  #error: unknown;
  /** Frame copies handed out and not yet released, by their memory. */
  readonly #outstanding = new WeakSet<ArrayBufferLike>();
  /** Released frame copies (whole buffers), ready for the next spanning frame. */
  readonly #free: Buffer[] = [];
  /** Page batches decoded into buffers of this decoder and not released yet (not applied yet). */
  #unreleased = 0;
  /** Guest memory the raw pages of PageBatchDirect frames may be read into (see placeRawPagesIn). */
  #placeInto: PageBatchSlotSink | undefined;
  /** Between a RoundBegin and its RoundEnd on this stream: only there are raw pages placed. */
  #inRound = false;
  /** PageBatchDirect frames read whole since the last one that was placed, or -1 while they are placed. */
  #unplacedStreak = -1;
  /**
   * Entries length of the last PageBatchDirect read in steps: the next one's counts and this many bytes are read
   * at once (a channel's batches tend to have alike heads), one read fewer per batch when the guess holds.
   */
  #lastEntriesBytes = 0;

  constructor(options: { maxPayloadBytes?: number } = {}) {
    const max = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_PAYLOAD;
    if (!Number.isSafeInteger(max) || max < 0 || max > 0xffffffff) {
      throw new BadArgumentError(`maxPayloadBytes must be an integer 0..0xffffffff, got ${max}`);
    }
    this.#maxPayloadBytes = max;
  }

  /** True when part of a frame is buffered. */
  get hasPartialFrame(): boolean {
    return this.#headerFilled > 0 || this.#spanning !== undefined;
  }

  /** The decode error that ended this decoder, if one did; after it, `push` and `end` throw it. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Feeds bytes; returns every frame completed by them (possibly none). When bytes after some good frames fail
   * to decode, returns those frames, and the error is `error` from then on.
   * @throws BadMagicError, UnsupportedVersionError, UnknownFrameTypeError, BadFlagsError, FrameTooLargeError,
   *   CrcMismatchError, BadMessageError, when it completes no frame before them; after one of these, the same
   *   error on every call.
   */
  push(chunk: Buffer): Frame[] {
    return this.#decode((frames) => this.#push(chunk, frames));
  }

  /** Runs one decoding step; an error it throws ends the decoder (see `push`). */
  #decode(step: (frames: Frame[]) => void): Frame[] {
    if (this.#error !== undefined) throw this.#error;
    const frames: Frame[] = [];
    try {
      step(frames);
    } catch (err) {
      this.#error = err;
      this.#spanning = undefined;
      if (frames.length === 0) throw err;
    }
    return frames;
  }

  /**
   * Call at end of stream.
   * @throws TruncatedFrameError if part of a frame is pending; the earlier error if the decoder is dead.
   */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#spanning !== undefined) {
      const { filled, frame } = this.#spanning;
      this.#error = new TruncatedFrameError(`stream ended inside a frame: ${filled} of ${frame.length} bytes`);
    } else if (this.#headerFilled > 0) {
      this.#error = new TruncatedFrameError(`stream ended inside a frame header: ${this.#headerFilled} of ${FRAME_HEADER_BYTES} bytes`);
    } else {
      return;
    }
    throw this.#error;
  }

  /**
   * Lets go of every buffer this decoder holds (a partial frame of up to the payload limit, released copies):
   * call when the connection has closed, so that a peer that sent most of a large frame and left costs nothing
   * afterwards. Later calls of `push` and `end` throw TruncatedFrameError.
   */
  dispose(): void {
    if (this.#error === undefined && this.hasPartialFrame) this.#error = new TruncatedFrameError('connection closed inside a frame');
    this.#error ??= new TruncatedFrameError('decoder disposed: the connection closed');
    this.#spanning = undefined;
    this.#headerFilled = 0;
    this.#free.length = 0;
  }

  /**
   * Where the next read of the socket should put its bytes: the rest of the pending frame header, or the rest
   * of the pending frame. A view of memory the decoder owns, at most one frame long, so one read never
   * passes the end of a frame. Pass the number of bytes read into it to `commitRead`.
   */
  readTarget(): Buffer {
    // A dead decoder still names a non-empty buffer (Node asks for the next one after every read); whatever is
    // read into it is refused by commitRead.
    if (this.#error !== undefined) return this.#header;
    const spanning = this.#spanning;
    if (spanning === undefined) return this.#header.subarray(this.#headerFilled);
    const segment = spanning.plan?.segments[spanning.segment];
    if (segment?.guest !== undefined) return segment.guest.subarray(spanning.filled - segment.start);
    return spanning.frame.subarray(spanning.filled, segment?.end ?? spanning.stop);
  }

  /**
   * From now on, with owned reads (`readTarget`/`commitRead`), reads the raw pages of PageBatchDirect frames
   * straight into `sink` (guest memory), one read per run of consecutive pages lying back to back there, instead
   * of into the frame's buffer (direct-raw-placement.ts says which runs). Only for a frame that comes between a
   * RoundBegin and its RoundEnd, once its head has passed its frame check, and when every page batch decoded
   * before it has been released (applied): so pages still land in wire order, and a batch refused outside
   * pre-copy rounds (requirePlainBatch) never touches guest memory. The frame then carries `rawPlaced`, and
   * `rawPageCrcs` the CRC of each raw page wherever it landed (directRawPageCrcs).
   */
  placeRawPagesIn(sink: PageBatchSlotSink | undefined): void {
    this.#placeInto = sink;
  }

  /**
   * `bytes` were read into the last `readTarget()`: returns the frame they completed, if any (at most one).
   * @throws as `push`; after an error, the same error on every call.
   */
  commitRead(bytes: number): Frame[] {
    return this.#decode((frames) => this.#commitRead(bytes, frames));
  }

  #commitRead(bytes: number, frames: Frame[]): void {
    const spanning = this.#spanning;
    const room = spanning === undefined ? FRAME_HEADER_BYTES - this.#headerFilled : this.#targetEnd(spanning) - spanning.filled;
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > room) throw new BadArgumentError(`commitRead(${bytes}): the read target had ${room} bytes`);
    if (spanning === undefined) {
      this.#headerFilled += bytes;
      if (this.#headerFilled < FRAME_HEADER_BYTES) return;
      const started = this.#startSpanning(readFrameHeader(this.#header, 0, this.#maxPayloadBytes), this.#placeInto !== undefined && this.#inRound);
      started.filled = this.#header.copy(started.frame, 0);
    } else {
      spanning.filled += bytes;
    }
    const pending = this.#spanning!;
    this.#advance(pending);
    if (pending.filled < pending.frame.length) return;
    this.#spanning = undefined;
    this.#headerFilled = 0;
    frames.push(this.#dispatch(pending));
  }

  /** Where the current read target of `spanning` ends, in frame coordinates. */
  #targetEnd(spanning: Spanning): number {
    return spanning.plan?.segments[spanning.segment]?.end ?? spanning.stop;
  }

  /**
   * After a read: moves on to the next segment of a placed raw region, or, when a PageBatchDirect's counts or
   * entries are complete, to the next step (the frame check of the head comes before any read into guest memory).
   */
  #advance(spanning: Spanning): void {
    const { frame } = spanning;
    if (spanning.plan !== undefined) {
      this.#nextSegment(spanning, spanning.plan);
      return;
    }
    if (spanning.filled < spanning.stop) return;
    if (spanning.step === 'counts') {
      const headEnd = DIRECT_COUNTS_END + frame.readUInt32BE(FRAME_HEADER_BYTES + 4);
      if (headEnd > frame.length || (frame.length - headEnd) % PAGE_SIZE !== 0) {
        // An entries length that leaves no whole pages: the rest is read as it is, and the dispatch refuses it.
        spanning.step = 'whole';
        spanning.stop = frame.length;
        return;
      }
      this.#lastEntriesBytes = headEnd - DIRECT_COUNTS_END;
      spanning.step = 'entries';
      spanning.stop = headEnd;
      if (spanning.filled < headEnd) return;
    }
    if (spanning.step === 'entries') {
      const headEnd = spanning.stop;
      checkDirectHead(frame, headEnd - FRAME_HEADER_BYTES, spanning.header.crc);
      spanning.step = 'raw';
      spanning.stop = frame.length;
      const sink = this.#placeInto;
      // A guessed entries length longer than the real one read some raw bytes into the frame's buffer already.
      if (sink !== undefined && this.#unreleased === 0) spanning.plan = planRawReads(frame, headEnd, sink, spanning.filled);
      this.#unplacedStreak = spanning.plan === undefined ? 0 : -1;
      if (spanning.plan !== undefined) this.#nextSegment(spanning, spanning.plan);
    }
  }

  /** Moves past the segments of `plan` that are filled. */
  #nextSegment(spanning: Spanning, plan: RawReadPlan): void {
    while (spanning.segment < plan.segments.length && spanning.filled >= plan.segments[spanning.segment]!.end) spanning.segment++;
  }

  /** Decodes `chunk`, adding each frame to `frames` as it completes (so a throw leaves the good ones there). */
  #push(chunk: Buffer, frames: Frame[]): void {
    let offset = 0;

    if (this.#headerFilled > 0 && this.#spanning === undefined) {
      offset = chunk.copy(this.#header, this.#headerFilled, 0, FRAME_HEADER_BYTES - this.#headerFilled);
      this.#headerFilled += offset;
      if (this.#headerFilled < FRAME_HEADER_BYTES) return;
      const spanning = this.#startSpanning(readFrameHeader(this.#header, 0, this.#maxPayloadBytes), false);
      spanning.filled = this.#header.copy(spanning.frame, 0);
    }

    const spanning = this.#spanning;
    if (spanning !== undefined) {
      const copied = chunk.copy(spanning.frame, spanning.filled, offset);
      spanning.filled += copied;
      offset += copied;
      if (spanning.filled < spanning.frame.length) return;
      this.#spanning = undefined;
      this.#headerFilled = 0;
      frames.push(this.#dispatch(spanning));
    }

    while (offset < chunk.length) {
      const remaining = chunk.length - offset;
      if (remaining < FRAME_HEADER_BYTES) {
        this.#headerFilled = chunk.copy(this.#header, 0, offset);
        return;
      }
      const header = readFrameHeader(chunk, offset, this.#maxPayloadBytes);
      const total = FRAME_HEADER_BYTES + header.payloadLength;
      if (remaining < total) {
        const started = this.#startSpanning(header, false);
        started.filled = chunk.copy(started.frame, 0, offset);
        return;
      }
      frames.push(this.#dispatch({ header, frame: chunk.subarray(offset, offset + total), filled: total, stop: total, step: 'whole', segment: 0 }));
      offset += total;
    }
    return;
  }

  /**
   * Hands a decoded frame back once its payload is no longer used; a frame copied out of several chunks is
   * then reused for a later one. Frames decoded in place, and frames released twice, are ignored.
   */
  release(frame: Frame): void {
    if (frame.type !== FrameType.PageBatch) return;
    const memory = frame.payload.buffer;
    if (!this.#outstanding.has(memory)) return;
    this.#outstanding.delete(memory);
    this.#unreleased--;
    if (this.#free.length < MAX_FREE_FRAMES) this.#free.push(Buffer.from(memory, 0, memory.byteLength));
  }

  /**
   * Called only with a validated header, so the allocation is bounded by maxPayloadBytes. `placing`: a
   * PageBatchDirect is read in steps, so that its raw pages may go to guest memory (placeRawPagesIn).
   */
  #startSpanning(header: FrameHeader, placing: boolean): Spanning {
    this.#headerFilled = FRAME_HEADER_BYTES;
    const length = FRAME_HEADER_BYTES + header.payloadLength;
    if (header.type !== FrameType.PageBatch && header.type !== FrameType.PageBatchDirect) {
      // A control frame: decoded at once and never released, so a buffer of its own size (its message may keep
      // views of it).
      this.#spanning = { header, frame: Buffer.allocUnsafeSlow(length), filled: 0, stop: length, step: 'whole', segment: 0 };
      return this.#spanning;
    }
    const index = this.#free.findIndex((buffer) => buffer.length >= length);
    // A released buffer when one is big enough; else a new one of at least a default batch's size, in memory of
    // its own (not Node's shared pool), so that it can be told apart and reused when released.
    const whole = index >= 0 ? this.#free.splice(index, 1)[0]! : Buffer.from(new ArrayBuffer(Math.max(length, REUSABLE_FRAME_BYTES)));
    this.#outstanding.add(whole.buffer);
    let steps = placing && header.type === FrameType.PageBatchDirect && length >= DIRECT_COUNTS_END;
    if (steps && this.#unplacedStreak >= 0) steps = ++this.#unplacedStreak % PROBE_EVERY_BATCHES === 0;
    this.#spanning = { header, frame: whole.subarray(0, length), filled: 0, stop: steps ? Math.min(length, DIRECT_COUNTS_END + this.#lastEntriesBytes) : length, step: steps ? 'counts' : 'whole', segment: 0 };
    return this.#spanning;
  }

  #dispatch({ frame, header, step, plan }: Spanning): Frame {
    if (header.type === FrameType.PageBatch || header.type === FrameType.PageBatchDirect) {
      if (this.#outstanding.has(frame.buffer)) this.#unreleased++;
    }
    if (header.type === FrameType.PageBatch) {
      const rawPageCrcs: number[] = [];
      checkCrc(pageBatchFrameCrc(frame, rawPageCrcs), header.crc);
      return { type: header.type, payload: frame.subarray(FRAME_HEADER_BYTES), rawPageCrcs };
    }
    if (header.type === FrameType.PageBatchDirect) {
      if (step !== 'raw') {
        const { rawAt, rawPageCrcs } = checkDirectBatchFrame(frame, header.crc);
        return { type: FrameType.PageBatch, payload: frame.subarray(FRAME_HEADER_BYTES), rawPageCrcs, rawAt };
      }
      const rawAt = directRawAt(frame);
      // Placed pages are in guest memory by now, and nothing else writes them before this batch is applied.
      const rawPageCrcs = directRawPageCrcs(frame, FRAME_HEADER_BYTES + rawAt, plan?.segments);
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      return plan === undefined ? { type: FrameType.PageBatch, payload, rawPageCrcs, rawAt } : { type: FrameType.PageBatch, payload, rawPageCrcs, rawAt, rawPlaced: plan.placed };
    }
    checkCrc(frameCrc(frame), header.crc);
    if (header.type === FrameType.RoundBegin) this.#inRound = true;
    else if (header.type === FrameType.RoundEnd) this.#inRound = false;
    return decodeMessagePayload(header.type, frame.subarray(FRAME_HEADER_BYTES));
  }
}
