import { PAGE_SIZE, PageEncoding } from './constants.js';
import { BadArgumentError, PageIndexOutOfRangeError, PageInflateError, TruncatedFrameError, UnknownPageEncodingError } from './errors.js';
import { asBuffer, inflatePage } from './page-encoding.js';

/** Where a page batch lands: the destination's guest memory. */
export interface PageBatchSink {
  pageCount: number;
  /** A writable 4096-byte view of page `index`. */
  page(index: number): Uint8Array;
}

/**
 * PageBatch payload, big-endian:
 *
 *   u32 entry count
 *   per entry: u32 page index, u8 encoding, then by encoding
 *     Zero (0):     nothing
 *     SameByte (1): u8 fill byte
 *     Lz4 (2):      u16 compressed length (1..4095), then that many bytes of lz4 block
 *     Raw (3):      4096 bytes
 *
 * Every entry is checked before its page is touched: index < sink.pageCount, known encoding, its bytes
 * present. An lz4 block inflates straight into the page (the inflater is bounds-checked against one page)
 * and must fill it exactly. On error, earlier entries have been applied; the caller must discard the image,
 * as any decode error is fatal to the migration.
 *
 * @returns the number of entries.
 * @throws PageIndexOutOfRangeError, UnknownPageEncodingError, PageInflateError, TruncatedFrameError
 *   (payload shorter than its entries claim, or bytes after the last entry)
 */
export function readPageBatch(
  payload: Buffer,
  sink: PageBatchSink,
  onPage?: (index: number, encoding: PageEncoding) => void,
): number {
  const end = payload.length;
  const need = (at: number, bytes: number, what: string): void => {
    if (at + bytes > end) throw new TruncatedFrameError(`page batch truncated: ${what} needs ${bytes} bytes at offset ${at}, payload has ${end}`);
  };
  need(0, 4, 'entry count');
  const count = payload.readUInt32BE(0);
  // Smallest entry is 5 bytes: reject an impossible count before looping over it.
  if (count * 5 > end - 4) throw new TruncatedFrameError(`page batch truncated: ${count} entries cannot fit in ${end} bytes`);
  let at = 4;
  for (let i = 0; i < count; i++) {
    need(at, 5, `entry ${i}`);
    const index = payload.readUInt32BE(at);
    const encoding = payload.readUInt8(at + 4);
    at += 5;
    if (index >= sink.pageCount) {
      throw new PageIndexOutOfRangeError(`page index ${index} out of range (guest has ${sink.pageCount} pages)`);
    }
    switch (encoding) {
      case PageEncoding.Zero:
        pageOf(sink, index).fill(0);
        break;
      case PageEncoding.SameByte:
        need(at, 1, `fill byte of page ${index}`);
        pageOf(sink, index).fill(payload.readUInt8(at));
        at += 1;
        break;
      case PageEncoding.Lz4: {
        need(at, 2, `lz4 length of page ${index}`);
        const length = payload.readUInt16BE(at);
        at += 2;
        if (length < 1 || length >= PAGE_SIZE) {
          throw new PageInflateError(`lz4 block length ${length} of page ${index} outside 1..${PAGE_SIZE - 1}`);
        }
        need(at, length, `lz4 block of page ${index}`);
        const inflated = inflatePage(payload.subarray(at, at + length), asBuffer(pageOf(sink, index)));
        if (inflated !== PAGE_SIZE) {
          throw new PageInflateError(
            inflated < 0
              ? `lz4 block of page ${index} is corrupt or inflates past ${PAGE_SIZE} bytes (error at ${-inflated})`
              : `lz4 block of page ${index} inflates to ${inflated} bytes, not ${PAGE_SIZE}`,
          );
        }
        at += length;
        break;
      }
      case PageEncoding.Raw:
        need(at, PAGE_SIZE, `raw page ${index}`);
        pageOf(sink, index).set(payload.subarray(at, at + PAGE_SIZE));
        at += PAGE_SIZE;
        break;
      default:
        throw new UnknownPageEncodingError(`unknown page encoding ${encoding} for page ${index}`);
    }
    onPage?.(index, encoding as PageEncoding);
  }
  if (at !== end) throw new TruncatedFrameError(`page batch has ${end - at} bytes after its ${count} entries`);
  return count;
}

function pageOf(sink: PageBatchSink, index: number): Uint8Array {
  const page = sink.page(index);
  if (page.length !== PAGE_SIZE) throw new BadArgumentError(`sink page ${index} is ${page.length} bytes, not ${PAGE_SIZE}`);
  return page;
}
