import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, PageBatchWriter, readPageBatch, type Frame } from '@livemig/protocol';

/** A PageBatch frame of `pages` raw-ish pages (distinct content per page and per `salt`). */
function batch(pages: number, salt: number): Buffer {
  const writer = new PageBatchWriter();
  for (let i = 0; i < pages; i++) {
    const page = new Uint8Array(4096);
    for (let j = 0; j < 4096; j++) page[j] = (j * 31 + i * 7 + salt * 13) & 0xff ^ (j >>> 3);
    writer.add(i, page);
  }
  return writer.takeFrame();
}

/** Feeds `frame` in 1000-byte chunks, so it spans chunks and the decoder copies it. */
function feed(decoder: FrameDecoder, frame: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let at = 0; at < frame.length; at += 1000) out.push(...decoder.push(frame.subarray(at, at + 1000)));
  return out;
}

function pageBytes(frame: Frame): Uint8Array {
  if (frame.type !== FrameType.PageBatch) throw new Error('not a page batch');
  const pages = new Uint8Array(4 * 4096);
  readPageBatch(frame.payload, { pageCount: 4, page: (i) => pages.subarray(i * 4096, (i + 1) * 4096) });
  return pages;
}

describe('FrameDecoder.release', () => {
  it('reuses a released frame copy for the next spanning frame, and only once', () => {
    const decoder = new FrameDecoder();
    const [first] = feed(decoder, batch(4, 1));
    const firstPages = pageBytes(first!);
    decoder.release(first!);
    decoder.release(first!); // twice: must not hand the same memory to two frames
    const [second] = feed(decoder, batch(4, 2));
    const [third] = feed(decoder, batch(4, 3));
    if (second!.type !== FrameType.PageBatch || third!.type !== FrameType.PageBatch || first!.type !== FrameType.PageBatch) throw new Error();
    expect(second!.payload.buffer).toBe(first!.payload.buffer);
    expect(third!.payload.buffer).not.toBe(second!.payload.buffer);
    // Both later frames decode to their own pages.
    expect(Buffer.from(pageBytes(second!)).equals(Buffer.from(pageBytes(feed(new FrameDecoder(), batch(4, 2))[0]!)))).toBe(true);
    expect(Buffer.from(pageBytes(third!)).equals(Buffer.from(firstPages))).toBe(false);
  });

  it('ignores a frame decoded in place (a view into the caller chunk)', () => {
    const decoder = new FrameDecoder();
    const whole = batch(2, 5);
    const [inPlace] = decoder.push(whole);
    decoder.release(inPlace!);
    const [next] = feed(decoder, batch(2, 6));
    if (inPlace!.type !== FrameType.PageBatch || next!.type !== FrameType.PageBatch) throw new Error();
    expect(next!.payload.buffer).not.toBe(inPlace!.payload.buffer);
    expect(whole.equals(batch(2, 5))).toBe(true); // the caller's chunk was not written to
  });
});
