import { describe, expect, it } from 'vitest';
import { FrameDecoder, MigrationError, encodeRoundBegin, encodeRoundEnd, type Frame } from '@livemig/protocol';

// A decode error after good frames in the same chunk (FramedSocket's promise: "frames before the failure are
// delivered"): push returns the good frames, the error is then the decoder's, and every later call throws it.
const good = Buffer.concat([encodeRoundBegin({ round: 1, pages: 3 }), encodeRoundEnd({ round: 1, pages: 3 })]);
/** Sixteen bytes that are no frame header (bad magic). */
const bad = Buffer.from('GET / HTTP/1.1\r\n');
const stream = Buffer.concat([good, bad]);

/** Feeds `chunks`; returns the frames delivered and the error, from a throw or from `error` after a push. */
function feed(chunks: Buffer[]): { frames: Frame[]; error: unknown } {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    try {
      frames.push(...decoder.push(chunk));
    } catch (error) {
      return { frames, error };
    }
    if (decoder.error !== undefined) return { frames, error: decoder.error };
  }
  try {
    decoder.end();
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: undefined };
}

describe('FrameDecoder: bad bytes after good frames', () => {
  const expected = new FrameDecoder().push(good);

  it('one chunk: both good frames are returned, then the error is the decoder\'s and every later call throws it', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(stream)).toEqual(expected);
    const error = decoder.error;
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    expect(() => decoder.push(good)).toThrow(error as Error);
    expect(() => decoder.end()).toThrow(error as Error);
  });

  it('every split into two chunks delivers both good frames, then LM_ERR_BAD_MAGIC', () => {
    for (let at = 0; at <= stream.length; at++) {
      const { frames, error } = feed([stream.subarray(0, at), stream.subarray(at)]);
      expect(frames, `split at ${at}`).toEqual(expected);
      expect(error, `split at ${at}`).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    }
  });

  it('every split into three chunks delivers both good frames, then LM_ERR_BAD_MAGIC', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const { frames, error } = feed([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        expect(frames, `split at ${a}, ${b}`).toEqual(expected);
        expect(error, `split at ${a}, ${b}`).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
      }
    }
  });
});
