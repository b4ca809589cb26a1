import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, PageBatchWriter, readPageBatch } from '@livemig/protocol';
import { memorySink, noise } from './helpers.js';

/** Fills a writer's batch with random (Raw) pages until it is full; returns the frame. */
function fullBatch(writer: PageBatchWriter, seed: number): { frame: Buffer; pages: Uint8Array[] } {
  const pages: Uint8Array[] = [];
  for (let index = 0; ; index++) {
    const page = noise(4096, seed * 1000 + index + 1);
    if (writer.add(index, page) === undefined) break;
    pages.push(page);
  }
  return { frame: writer.takeFrame(), pages };
}

describe('PageBatchWriter.recycle', () => {
  it('a recycled frame carries a later batch, which still decodes to its own pages', () => {
    const writer = new PageBatchWriter({ maxPayloadBytes: 64 * 1024 });
    const first = fullBatch(writer, 1);
    const second = fullBatch(writer, 2);
    expect(second.frame.buffer === first.frame.buffer).toBe(false);
    writer.recycle(first.frame);
    writer.recycle(first.frame); // twice: ignored
    // The batch being built when the frame came back was already in a buffer of its own; the next one takes it.
    const third = fullBatch(writer, 3);
    const fourth = fullBatch(writer, 4);
    const fifth = fullBatch(writer, 5);
    expect([third, fourth, fifth].map(({ frame }) => frame.buffer === first.frame.buffer)).toEqual([false, true, false]);

    const [decoded] = new FrameDecoder().push(fourth.frame);
    if (decoded?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    const sink = memorySink(fourth.pages.length);
    readPageBatch(decoded.payload, sink);
    fourth.pages.forEach((page, index) => expect(Buffer.compare(sink.page(index), page)).toBe(0));
  });

  it('a short batch is copied out and never recycled, nor is a foreign buffer', () => {
    const writer = new PageBatchWriter({ maxPayloadBytes: 64 * 1024 });
    writer.add(0, noise(4096, 9));
    const short = writer.takeFrame();
    writer.recycle(short);
    writer.recycle(Buffer.alloc(64 * 1024 + 16));
    const next = fullBatch(writer, 5);
    const after = fullBatch(writer, 6);
    expect(next.frame.buffer === short.buffer || after.frame.buffer === short.buffer).toBe(false);
  });
});
