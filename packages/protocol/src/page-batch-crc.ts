import { crc32 } from './crc32.js';
import { FRAME_HEADER_BYTES, PAGE_SIZE, PageEncoding } from './constants.js';
import { PAGE_CRC_SHIFT } from './crc32-combine.js';
import { headerCrc } from './frame-header.js';

/** Entry header: u32 page index, u8 encoding (page-batch-reader.ts has the layout). */
const ENTRY_HEADER_BYTES = 5;
const ENTRIES_START = FRAME_HEADER_BYTES + 4;

/**
 * The CRC-32 of a whole PageBatch frame (header bytes 0..11, then the payload), reading each Raw page once:
 * its own CRC is pushed onto `rawPageCrcs` (in entry order) and is combined into the frame's. The destination then
 * records those CRCs for the image digest instead of reading the pages again.
 *
 * The frame is not trusted yet: the walk only looks for Raw pages, and where the entries stop making sense
 * (an unknown encoding, an entry past the end) it stops looking and CRCs the rest as plain bytes. The result
 * is the CRC of the frame's bytes either way; readPageBatch validates the entries afterwards. When the CRC
 * matches the header, the walk and readPageBatch parse the same entries, so the k-th Raw entry readPageBatch
 * meets is the one whose CRC is `rawPageCrcs[k]`.
 */
export function pageBatchFrameCrc(frame: Buffer, rawPageCrcs: number[]): number {
  let crc = headerCrc(frame);
  let crcEnd = FRAME_HEADER_BYTES;
  const end = frame.length;
  const count = end >= ENTRIES_START ? frame.readUInt32BE(FRAME_HEADER_BYTES) : 0;
  let at = ENTRIES_START;
  for (let i = 0; i < count && at + ENTRY_HEADER_BYTES <= end; i++) {
    const encoding = frame[at + 4];
    at += ENTRY_HEADER_BYTES;
    if (encoding === PageEncoding.Raw) {
      if (at + PAGE_SIZE > end) break;
      crc = crc32(frame.subarray(crcEnd, at), crc);
      const pageCrc = crc32(frame.subarray(at, at + PAGE_SIZE));
      rawPageCrcs.push(pageCrc);
      crc = PAGE_CRC_SHIFT.combine(crc, pageCrc);
      at += PAGE_SIZE;
      crcEnd = at;
    } else if (encoding === PageEncoding.SameByte) {
      at += 1;
    } else if (encoding === PageEncoding.Lz4 || encoding === PageEncoding.Delta) {
      if (at + 2 > end) break;
      at += 2 + frame.readUInt16BE(at);
    } else if (encoding === PageEncoding.Lz4Run) {
      if (at + 5 > end) break;
      at += 5 + frame.readUInt32BE(at + 1);
    } else if (encoding !== PageEncoding.Zero) {
      break;
    }
  }
  return crc32(frame.subarray(crcEnd), crc);
}
