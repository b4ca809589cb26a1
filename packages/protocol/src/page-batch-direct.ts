import { crc32 } from './crc32.js';
import { FRAME_HEADER_BYTES, PAGE_SIZE } from './constants.js';
import { TruncatedFrameError, UnexpectedFrameError } from './errors.js';
import { checkCrc, headerCrc } from './frame-header.js';

/**
 * PageBatchDirect (frame type 0x13, capability `direct-pages-v2`): a page batch whose Raw pages travel after its
 * entries, so that the source writes them straight from guest memory (one gathered write of the head and views
 * of the pages) instead of copying them into the frame. Payload, big-endian:
 *
 *   u32 entry count
 *   u32 entries length E: the bytes of the entries that follow
 *   E bytes of entries, as in PageBatch, except that a Raw entry (u32 index, u8 3) carries, instead of its page,
 *     u32 CRC-32 of the page as the source read it (direct-raw-crcs.ts)
 *   4096 bytes per Raw entry, in entry order: the raw region
 *
 * The frame CRC covers header bytes 0..11 and payload bytes [0, 8 + E): the counts and every entry, not the raw
 * region. A live page may change while the kernel copies it; such a page is dirty and is sent again, so its bytes
 * must not fail a frame check. Wire corruption in the raw region is caught end to end instead: the destination
 * checks each stretch of raw pages against the entries' CRCs and records, for its page table, those CRCs where
 * they agree and each page's own where they do not (direct-raw-crcs.ts); at commit the digests over the per-page
 * tables then differ, and the destination asks for the source's table and for the pages whose CRCs differ
 * (repair, PROTOCOL.md).
 */

/** Payload bytes before the entries: the entry count and the entries length. */
export const DIRECT_ENTRIES_START = 8;

/**
 * Refuses a PageBatchDirect where only the plain form may come (the post-copy push and answers, repaired pages):
 * its raw pages are outside the frame check, and only a pre-copy round's digest check at commit covers them.
 * @throws UnexpectedFrameError
 */
export function requirePlainBatch(frame: { rawAt?: number }, where: string): void {
  if (frame.rawAt !== undefined) throw new UnexpectedFrameError(`PageBatchDirect ${where}: only pre-copy rounds carry it`);
}

/**
 * Where the raw region starts in the payload of a PageBatchDirect frame, from its entries length (the frame's
 * first 24 bytes are enough).
 * @throws TruncatedFrameError for a payload with no room for its counts, or an entries length that does not
 *   leave whole pages after it
 */
export function directRawAt(frame: Buffer): number {
  const payloadLength = frame.length - FRAME_HEADER_BYTES;
  if (payloadLength < DIRECT_ENTRIES_START) {
    throw new TruncatedFrameError(`direct page batch of ${payloadLength} bytes has no room for its counts`);
  }
  const entriesLength = frame.readUInt32BE(FRAME_HEADER_BYTES + 4);
  const rawBytes = payloadLength - DIRECT_ENTRIES_START - entriesLength;
  if (rawBytes < 0 || rawBytes % PAGE_SIZE !== 0) {
    throw new TruncatedFrameError(`direct page batch: entries length ${entriesLength} leaves no whole raw pages in ${payloadLength} bytes`);
  }
  return DIRECT_ENTRIES_START + entriesLength;
}

/**
 * The frame check of a PageBatchDirect: header bytes 0..11 and the payload up to `rawAt` (counts and entries).
 * @throws CrcMismatchError
 */
export function checkDirectHead(frame: Buffer, rawAt: number, expectedCrc: number): void {
  checkCrc(crc32(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + rawAt), headerCrc(frame)), expectedCrc);
}

/**
 * The raw region of a direct batch being built: views of the pages where they lie (guest memory), pages lying
 * back to back merged into one view, so that a run of raw pages costs one part of the gathered write.
 */
export class RawPageViews {
  #views: Buffer[] = [];
  /** The stretch of back-to-back pages being added to, made into a view only when another starts (or at take). */
  #memory: Buffer | undefined;
  #from = 0;
  #to = 0;
  /** Bytes in the region so far. */
  bytes = 0;

  /** `memory` views a whole buffer (offset 0), `at` the page's offset in it. */
  add(memory: Buffer, at: number): void {
    if (memory !== this.#memory || at !== this.#to) {
      this.#close();
      this.#memory = memory;
      this.#from = at;
    }
    this.#to = at + PAGE_SIZE;
    this.bytes += PAGE_SIZE;
  }

  /** The views in order; the region is empty afterwards. */
  take(): Buffer[] {
    this.#close();
    const views = this.#views;
    this.#views = [];
    this.bytes = 0;
    return views;
  }

  #close(): void {
    if (this.#memory !== undefined) this.#views.push(this.#memory.subarray(this.#from, this.#to));
    this.#memory = undefined;
  }
}
