import { crc32 } from './crc32.js';
import lz4 from 'lz4';
import { FRAME_HEADER_BYTES, MAX_RUN_PAGES, PAGE_SIZE, PageEncoding } from './constants.js';
import { BadArgumentError } from './errors.js';
import { PAGE_CRC_SHIFT, ZERO_PAGE_CRC, sameBytePageCrc } from './crc32-combine.js';
import { encodeDelta, type PageWords } from './page-delta.js';
import { looksIncompressible } from './page-sample.js';
import { encodeSparseRun } from './page-sparse-run.js';
import { EncodingTally } from './encoding-tally.js';
import { copyPage } from './page-copy.js';
import { checkPageView } from './page-encoding.js';
import { MemoryViews } from './memory-views.js';
import { Content, checkRange, contentOf, isOneRepeatedByte } from './page-content.js';
import { DIRECT_ENTRIES_START, RawPageViews } from './page-batch-direct.js';
import { zstdEncodeBlock } from './page-zstd.js';
import type { PageBatchStats, PageBatchWriterOptions, PageCompression } from './page-batch-types.js';
import {
  ENTRY_HEADER_BYTES,
  MAX_ENTRY_BYTES,
  MAX_WRITTEN_BLOCK,
  PAYLOAD_START,
  RUN_HEADER_BYTES,
  checkPageIndex,
  checkedRunLength,
  checkedWriterOptions,
  sealBatch,
  writeRunHeader,
} from './page-batch-layout.js';

export type { PageBatchStats, PageBatchWriterOptions, PageCompression } from './page-batch-types.js';

/**
 * Builds PageBatch (or PageBatchDirect, see `direct`) frames in place: entries go straight into one preallocated
 * frame buffer and `takeFrame`/`takeParts` fill in the counts and the header: one allocation per batch.
 * Every page's CRC-32 is taken as it is added (`pageCrc`, for the image digest), and the frame's CRC is built up
 * from the entries as they are written, a plain batch's Raw page's from its page CRC (read once for both).
 *
 * A page may be written by a running vCPU while it is encoded; the encoding then describes some mix of old and
 * new bytes. That is safe because a vCPU marks a page dirty after writing it, so the page is sent again.
 */
export class PageBatchWriter {
  readonly #tally = new EncodingTally();
  readonly #capacity: number;
  readonly #maxDelta: number;
  readonly #cur = new MemoryViews();
  readonly #prev = new MemoryViews();
  readonly #words: PageWords = { cur: undefined, prev: undefined };
  #frame: Buffer;
  /** Where the entries start in the frame: after the count, and in a direct batch the entries length. */
  #entriesStart = PAYLOAD_START;
  #offset = PAYLOAD_START;
  /** A direct batch's raw region (views of the pages where they lie); empty in a plain batch. */
  readonly #raw = new RawPageViews();
  #pageCount = 0;
  #entryCount = 0;
  /** CRC-32 of the frame's entries up to #crcEnd (from #entriesStart). */
  #entriesCrc = 0;
  #crcEnd = PAYLOAD_START;
  #pageCrc = 0;
  #directBytes = 0; // raw page bytes sent from guest memory beside the frame (PageBatchDirect), so far
  /** The last run went whole as a sparse Lz4Run (#addSparse): the next one is tried so first. */
  #sparseAhead = false;
  /** CRC-32 of each page of the last successful addRun, in page order. */
  readonly runPageCrcs = new Uint32Array(MAX_RUN_PAGES);
  /**
   * The form of the batches built from the next empty one on: PageBatchDirect (true; the destination must have
   * agreed to CAPABILITY_DIRECT_PAGES) or PageBatch. In a direct batch a Raw page is not copied: `takeParts`
   * returns a view of it where it lies, so the memory passed to add/addRun must stay readable until the parts are
   * written. A change to a page meanwhile goes out as it is when the kernel copies it, while the page's CRC here
   * is the one taken at add time: guest memory is dirty-tracked, so such a page is sent again; anything else
   * passed to a direct batch must not change until it is written.
   */
  direct = false;
  /** For the pages added from now on; zstd needs a destination that agreed to CAPABILITY_ZSTD_RUNS. */
  compression: PageCompression = 'lz4';
  /**
   * Cumulative: bytes of the pages that went to compression (Raw under `none`) and what they took on the wire
   * (entries, and a direct Raw page's bytes): what `compression` changes (other pages go alike under each). */
  compressibleBytesIn = 0;
  compressibleBytesOut = 0;

  constructor(options: PageBatchWriterOptions = {}) {
    const { capacity, maxDelta } = checkedWriterOptions(options);
    this.#capacity = capacity;
    this.#maxDelta = maxDelta;
    this.#frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + capacity);
  }

  /** Cumulative over the writer's life (not reset by takeFrame); a fresh object each time. */
  get stats(): PageBatchStats {
    return this.#tally.stats();
  }

  /** Pages in the batch so far (an Lz4Run entry holds several). */
  get pageCount(): number {
    return this.#pageCount;
  }

  /**
   * CRC-32 of the page the last successful add or addZero encoded: of the bytes copied for a plain Raw page;
   * for a direct Raw page and the other encodings, of the page as read when it was added (a running vCPU that
   * changed it meanwhile marked it dirty, so it is sent again).
   */
  get pageCrc(): number {
    return this.#pageCrc;
  }

  /** Payload bytes so far, entry count (and a direct batch's raw region) included. */
  get payloadBytes(): number {
    return this.#offset + this.#raw.bytes - FRAME_HEADER_BYTES;
  }

  /**
   * Encodes `page` (exactly 4096 bytes; may view a SharedArrayBuffer) by content: all zero -> Zero, one
   * repeated byte -> SameByte; then, given `previous` (the copy of this page this side sent last, 4096 bytes),
   * a delta against it when one fits in maxDeltaBytes; then, by `compression`, lz4 (or zstd, as a one-page
   * ZstdRun) when its entry is smaller than Raw, else Raw.
   * @returns the encoding used, or undefined when the batch has no room for a worst-case page
   *   (then call takeFrame() and add again).
   * @throws BadArgumentError for a page or previous copy that is not 4096 bytes or an index that is not a u32.
   */
  add(pageIndex: number, page: Uint8Array, previous?: Uint8Array): PageEncoding | undefined {
    checkPageView(page, 'page');
    if (previous !== undefined) checkPageView(previous, 'previous');
    return this.#add(pageIndex, page, 0, true, previous, 0);
  }

  /**
   * As `add`, for the page at `slot[offset, offset + 4096)` (and its previous copy at
   * `previous[previousOffset, +4096)`), without making a view of it: the allocation-free entry point.
   */
  addAt(pageIndex: number, slot: Uint8Array, offset: number, previous?: Uint8Array, previousOffset = 0): PageEncoding | undefined {
    checkRange(slot, offset, 'page');
    if (previous !== undefined) checkRange(previous, previousOffset, 'previous');
    return this.#add(pageIndex, slot, offset, slot.length === PAGE_SIZE && offset === 0, previous, previousOffset);
  }

  /**
   * Adds the consecutive pages `firstIndex, firstIndex + 1, ...` that `pages` holds back to back (2..16 of
   * them; a view of guest memory, say). Each is encoded as by `add` without a previous copy, except that pages
   * next to each other that lz4 may shrink are compressed together in one Lz4Run entry: lz4 then finds
   * repeats across pages. The run falls back to one entry per page when the block would not be smaller than
   * the pages. Pages zero but for a few bytes go so under every compression (#addSparse). The CRC of each page
   * is left in `runPageCrcs`.
   * @returns false when the batch has no room for every page as Raw (then call takeFrame() and add again).
   * @throws BadArgumentError for a view that is not 2..16 whole pages, or indices that are not u32s.
   */
  addRun(firstIndex: number, pages: Uint8Array): boolean {
    const count = checkedRunLength(firstIndex, pages);
    if (!this.#roomFor(count)) return false;
    // The run before was sparse: so is this one, likely (incr's pages, a zeroed region); lz4 first, no sample.
    if (this.#sparseAhead && this.#addSparse(firstIndex, pages, 0, count)) return true;
    this.#sparseAhead = false;
    const base = this.#cur.of(pages, 0);
    const src = this.#cur.bytes;
    // Stretches of pages that lz4 may shrink (Compressible or Sparse) go to compression together.
    let stretchFrom = -1;
    let allSparse = true;
    for (let k = 0; k <= count; k++) {
      const content = k < count ? contentOf(src, base + k * PAGE_SIZE) : Content.Unknown;
      if (content === Content.Compressible || content === Content.Sparse) {
        if (stretchFrom < 0) [stretchFrom, allSparse] = [k, true];
        allSparse &&= content === Content.Sparse;
        continue;
      }
      if (stretchFrom >= 0) {
        const sparse = allSparse && k - stretchFrom > 1 && this.#addSparse(firstIndex, pages, stretchFrom, k);
        if (!sparse) this.#addCompressible(firstIndex, pages, stretchFrom, k);
        this.#sparseAhead = sparse && stretchFrom === 0 && k === count;
      }
      stretchFrom = -1;
      if (k < count) {
        this.#add(firstIndex + k, pages, k * PAGE_SIZE, false, undefined, 0, content);
        this.runPageCrcs[k] = this.#pageCrc;
      }
    }
    return true;
  }

  /** As addRun, but only as a sparse run (#addSparse): false when the pages are not one, undefined when full. */
  addSparseRun(firstIndex: number, pages: Uint8Array): boolean | undefined {
    const count = checkedRunLength(firstIndex, pages);
    return this.#roomFor(count) ? this.#addSparse(firstIndex, pages, 0, count) : undefined;
  }

  /**
   * Pages `from..to-1` of a run as one Lz4Run entry, when they make a sparse run (page-sparse-run.ts): under every
   * compression, as Zero pages go as Zero, since at that size lz4 costs less than Raw. False, nothing written, if not.
   */
  #addSparse(firstIndex: number, pages: Uint8Array, from: number, to: number): boolean {
    const input = pages.subarray(from * PAGE_SIZE, to * PAGE_SIZE);
    const length = encodeSparseRun(input, this.#frame, this.#offset + RUN_HEADER_BYTES, this.runPageCrcs, from);
    if (length === 0) return false;
    this.#offset = writeRunHeader(this.#frame, this.#offset, firstIndex + from, PageEncoding.Lz4Run, to - from, length);
    this.#count(PageEncoding.Lz4Run, to - from, RUN_HEADER_BYTES + length);
    this.#pageCrc = this.runPageCrcs[to - 1]!;
    return true;
  }

  /** Adds a page known to be zero (e.g. never written) without reading it. False when the batch is full. */
  addZero(pageIndex: number): boolean {
    if (!this.#startEntry(pageIndex)) return false;
    this.#offset = this.#frame.writeUInt8(PageEncoding.Zero, this.#offset + 4);
    this.#pageCrc = ZERO_PAGE_CRC;
    this.#count(PageEncoding.Zero, 1, ENTRY_HEADER_BYTES);
    return true;
  }

  /**
   * The finished PageBatch frame (header, payload, CRC). The caller owns the returned Buffer and the writer
   * never touches it again: a mostly full batch hands over its buffer (the writer allocates a fresh one), a
   * mostly empty one is copied out so a short batch does not pin a whole buffer.
   * @throws BadArgumentError for a direct batch (see takeParts)
   */
  takeFrame(): Buffer {
    if (this.#entriesStart !== PAYLOAD_START) throw new BadArgumentError('a direct page batch is taken in parts (takeParts)');
    return this.takeParts()[0]!;
  }

  /**
   * The finished batch as the parts of one frame, to be written in order as one gathered write: a PageBatch is
   * one part (as takeFrame); a PageBatchDirect is its head (header, counts, entries) and then views of its Raw
   * pages where they lie. The next batch takes the form `direct` says.
   */
  takeParts(): Buffer[] {
    let head = this.#frame.subarray(0, this.#offset);
    const direct = this.#entriesStart !== PAYLOAD_START;
    this.#foldCrcTo(this.#offset);
    sealBatch(head, this.#entryCount, this.#entriesStart, this.#entriesCrc, this.#raw.bytes);
    if (head.length * 2 < this.#frame.length) head = Buffer.from(head);
    else this.#frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + this.#capacity);
    const parts = direct ? [head, ...this.#raw.take()] : [head];
    this.#pageCount = 0;
    this.#entryCount = 0;
    this.#entriesCrc = 0;
    this.#startForm();
    return parts;
  }

  /**
   * Pages `from..to-1` of a run (`pages` as given to addRun), all Compressible: one Lz4Run entry (ZstdRun
   * under zstd, also for a single page), or one entry each when there is a single page, the compression is
   * none or the block would not be smaller than the pages. addRun checked room for the whole run as Raw,
   * which is more than any entry written here. Returns the last entry's encoding.
   */
  #addCompressible(firstIndex: number, pages: Uint8Array, from: number, to: number): PageEncoding | undefined {
    const count = to - from;
    const zstd = this.compression === 'zstd';
    const start = this.#offset;
    this.compressibleBytesIn += count * PAGE_SIZE;
    if (count > 1 || zstd) {
      const entry = this.#offset;
      const block = entry + RUN_HEADER_BYTES;
      const input = pages.subarray(from * PAGE_SIZE, to * PAGE_SIZE);
      const blockEnd = block + count * PAGE_SIZE - 1;
      const encode = zstd ? zstdEncodeBlock : this.compression === 'lz4' ? lz4.encodeBlock.bind(lz4) : undefined;
      const length = encode ? encode(input, this.#frame, block, blockEnd) : 0;
      if (length > 0) {
        for (let k = from; k < to; k++) this.runPageCrcs[k] = crc32(pages.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
        const encoding = zstd ? PageEncoding.ZstdRun : PageEncoding.Lz4Run;
        this.#offset = writeRunHeader(this.#frame, entry, firstIndex + from, encoding, count, length);
        this.#count(encoding, count, RUN_HEADER_BYTES + length);
        this.#pageCrc = this.runPageCrcs[to - 1]!;
        this.compressibleBytesOut += this.#offset - start;
        return encoding;
      }
    }
    let encoding: PageEncoding | undefined;
    const directBefore = this.#directBytes;
    for (let k = from; k < to; k++) {
      encoding = this.#add(firstIndex + k, pages, k * PAGE_SIZE, false, undefined, 0, zstd ? Content.Incompressible : Content.Compressible);
      this.runPageCrcs[k] = this.#pageCrc;
    }
    this.compressibleBytesOut += this.#offset - start + this.#directBytes - directBefore;
    return encoding;
  }

  /**
   * `whole`: `view` is exactly the page, so lz4 can read it without a view being made. `content`: what addRun
   * already found out about the page, so that it is not looked at twice.
   */
  #add(
    pageIndex: number,
    view: Uint8Array,
    offset: number,
    whole: boolean,
    previous: Uint8Array | undefined,
    previousOffset: number,
    content = Content.Unknown,
  ): PageEncoding | undefined {
    if (!this.#startEntry(pageIndex)) return undefined;
    const frame = this.#frame;
    const entry = this.#offset;
    const at = this.#cur.of(view, offset);
    const src = this.#cur.bytes;
    let encoding: PageEncoding;
    let end = entry + ENTRY_HEADER_BYTES;
    if (content === Content.RepeatedByte || (content === Content.Unknown && isOneRepeatedByte(src, at))) {
      const fill = src[at] as number;
      if (fill === 0) {
        encoding = PageEncoding.Zero;
        this.#pageCrc = ZERO_PAGE_CRC;
      } else {
        encoding = PageEncoding.SameByte;
        end = frame.writeUInt8(fill, end);
        this.#pageCrc = sameBytePageCrc(fill);
      }
    } else {
      // Lz4 and Delta blocks are written straight into the frame after their u16 length; startEntry left
      // room for a Raw entry, which is larger than either (MAX_WRITTEN_BLOCK), as the native lz4 binding
      // does not check the output range it is given.
      const block = end + 2;
      let length = 0;
      encoding = PageEncoding.Raw;
      if (previous !== undefined && this.#maxDelta > 0) {
        const prevAt = this.#prev.of(previous, previousOffset);
        this.#words.cur = this.#cur.words;
        this.#words.prev = this.#prev.words;
        length = encodeDelta(src, at, this.#prev.bytes, prevAt, this.#words, frame, block, this.#maxDelta);
        if (length > 0) encoding = PageEncoding.Delta;
      }
      const compressible = content === Content.Unknown ? !looksIncompressible(src, at) : content === Content.Compressible;
      if (encoding === PageEncoding.Raw && compressible && this.compression === 'zstd') {
        // Alone, as a one-page ZstdRun in this entry's place (startEntry left room for a Raw entry).
        return this.#addCompressible(pageIndex, whole ? view : src.subarray(at, at + PAGE_SIZE), 0, 1);
      }
      if (encoding === PageEncoding.Raw && compressible && this.compression === 'lz4') {
        // A view per lz4'd page (~0.14 us) is cheaper than copying the page into a scratch page (~0.6 us
        // from a SharedArrayBuffer), measured; the binding compresses a whole buffer only.
        const input = whole ? view : src.subarray(at, at + PAGE_SIZE);
        length = lz4.encodeBlock(input, frame, block, block + MAX_WRITTEN_BLOCK);
        if (length > 0) encoding = PageEncoding.Lz4;
      }
      if (encoding === PageEncoding.Raw && this.#entriesStart !== PAYLOAD_START) {
        // Direct: the page stays where it is; its CRC is of guest memory now (a later change re-dirties it), and
        // goes in the entry, so that the destination checks a run of raw pages in one pass (direct-raw-crcs.ts).
        this.#raw.add(src, at);
        this.#directBytes += PAGE_SIZE;
        this.#pageCrc = crc32(src.subarray(at, at + PAGE_SIZE));
        end = frame.writeUInt32BE(this.#pageCrc, end);
      } else if (encoding === PageEncoding.Raw) {
        copyPage(src, at, frame, end);
        // The entry header is folded into the frame's CRC here, so its encoding byte must be in place.
        frame[entry + 4] = encoding;
        this.#foldCrcTo(end);
        // The CRC of the copy, not of guest memory: a running vCPU may change the page meanwhile.
        this.#pageCrc = crc32(frame.subarray(end, end + PAGE_SIZE));
        this.#entriesCrc = PAGE_CRC_SHIFT.combine(this.#entriesCrc, this.#pageCrc);
        end += PAGE_SIZE;
        this.#crcEnd = end;
      } else {
        frame.writeUInt16BE(length, end);
        end = block + length;
        this.#pageCrc = crc32(whole ? view : src.subarray(at, at + PAGE_SIZE));
      }
      if (compressible && content === Content.Unknown && encoding !== PageEncoding.Delta) {
        this.compressibleBytesIn += PAGE_SIZE;
        this.compressibleBytesOut += end - entry + (encoding === PageEncoding.Raw && this.#entriesStart !== PAYLOAD_START ? PAGE_SIZE : 0);
      }
    }
    frame[entry + 4] = encoding;
    this.#offset = end;
    this.#count(encoding, 1, end - entry);
    return encoding;
  }

  /** Extends the entries' CRC over the bytes written since it was last extended, up to `end`. */
  #foldCrcTo(end: number): void {
    if (end > this.#crcEnd) this.#entriesCrc = crc32(this.#frame.subarray(this.#crcEnd, end), this.#entriesCrc);
    this.#crcEnd = end;
  }

  #count(encoding: PageEncoding, pages: number, entryBytes: number): void {
    this.#tally.add(encoding, pages, entryBytes);
    this.#pageCount += pages;
    this.#entryCount++;
  }

  /** Room for `pages` Raw entries (an empty batch first takes the form `direct` says). */
  #roomFor(pages: number): boolean {
    if (this.#entryCount === 0 && this.direct !== (this.#entriesStart !== PAYLOAD_START)) this.#startForm();
    return this.#offset + this.#raw.bytes + pages * MAX_ENTRY_BYTES <= FRAME_HEADER_BYTES + this.#capacity;
  }

  /** An empty batch takes the form `direct` says. */
  #startForm(): void {
    this.#entriesStart = this.direct ? FRAME_HEADER_BYTES + DIRECT_ENTRIES_START : PAYLOAD_START;
    this.#offset = this.#entriesStart;
    this.#crcEnd = this.#entriesStart;
  }

  /** Checks room for a worst-case entry and writes the page index. */
  #startEntry(pageIndex: number): boolean {
    checkPageIndex(pageIndex);
    if (!this.#roomFor(1)) return false;
    this.#frame.writeUInt32BE(pageIndex, this.#offset);
    return true;
  }
}
