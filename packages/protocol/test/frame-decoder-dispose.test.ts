import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, encodeFrame } from '@livemig/protocol';

// Issue 15's leak probe: a peer that sends most of a 4 MiB frame and leaves must leave nothing behind.
describe('FrameDecoder.dispose', () => {
  it('lets go of a partial frame and fails every later push and end', () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame(FrameType.PageBatch, Buffer.alloc(1024 * 1024, 1));
    expect(decoder.push(frame.subarray(0, frame.length - 10))).toEqual([]);
    expect(decoder.hasPartialFrame).toBe(true);
    decoder.dispose();
    expect(decoder.hasPartialFrame).toBe(false);
    expect(() => decoder.push(frame.subarray(frame.length - 10))).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED', message: 'connection closed inside a frame' }));
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }));
  });

  it('on a decoder between frames says the connection closed', () => {
    const decoder = new FrameDecoder();
    decoder.dispose();
    expect(() => decoder.push(Buffer.alloc(1))).toThrow('decoder disposed: the connection closed');
  });
});
