import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import { CAPABILITIES, CAPABILITY_ROUND_ACK, FrameDecoder, OPTIONAL_CAPABILITIES, REQUIRED_CAPABILITIES, encodeRoundAck } from '@livemig/protocol';
import { frameBytes } from './helpers.js';
import { decodeError } from './decode-error.js';

// RoundAck (PROTOCOL.md, "Round acknowledgements"): exact bytes against a hand-built frame, and every malformed
// one refused with LM_ERR_BAD_MESSAGE naming the field.

describe('RoundAck', () => {
  it('is type 0x14: a msgpack map of round, pages and applyUs', () => {
    const wire = { round: 3, pages: 16_384, applyUs: 12_345 };
    // The map written out by hand: fixmap of 3, then each key (fixstr) and its value.
    const payload = Buffer.from([
      0x83,
      0xa5, ...Buffer.from('round'), 0x03,
      0xa5, ...Buffer.from('pages'), 0xcd, 0x40, 0x00,
      0xa7, ...Buffer.from('applyUs'), 0xcd, 0x30, 0x39,
    ]);
    const bytes = frameBytes(0x14, payload);
    expect(encodeRoundAck(wire)).toEqual(bytes);
    expect(new FrameDecoder().push(bytes)).toEqual([{ type: 0x14, message: wire }]);
  });

  it('drops fields it does not know, as every control message does', () => {
    const bytes = frameBytes(0x14, msgpack.encode({ round: 1, pages: 0, applyUs: 0, later: 'x' }));
    expect(new FrameDecoder().push(bytes)).toEqual([{ type: 0x14, message: { round: 1, pages: 0, applyUs: 0 } }]);
  });

  it.each([
    ['round 0', { round: 0, pages: 1, applyUs: 1 }, /'round': 0 outside 1\.\./],
    ['a round past 2^32 - 1', { round: 2 ** 32, pages: 1, applyUs: 1 }, /'round'/],
    ['no round', { pages: 1, applyUs: 1 }, /'round'/],
    ['negative pages', { round: 1, pages: -1, applyUs: 1 }, /'pages': -1 outside/],
    ['more pages than a guest can have', { round: 1, pages: 2 ** 34 + 1, applyUs: 1 }, /'pages'/],
    ['a fractional applyUs', { round: 1, pages: 1, applyUs: 1.5 }, /'applyUs': expected integer/],
    ['a negative applyUs', { round: 1, pages: 1, applyUs: -3 }, /'applyUs'/],
    ['applyUs as a string', { round: 1, pages: 1, applyUs: '7' }, /'applyUs': expected integer/],
    ['an array instead of a map', [1, 2, 3], /message/],
  ])('%s is LM_ERR_BAD_MESSAGE naming the field', (_, wire, message) => {
    const error = decodeError(frameBytes(0x14, msgpack.encode(wire)));
    expect(error.code).toBe('LM_ERR_BAD_MESSAGE');
    expect(error.message).toMatch(message);
  });

  it('the encoder refuses what the decoder would', () => {
    expect(() => encodeRoundAck({ round: 0, pages: 1, applyUs: 1 })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
  });

  it('is gated by the optional capability round-ack-v1, offered by this implementation', () => {
    expect(CAPABILITY_ROUND_ACK).toBe('round-ack-v1');
    expect(OPTIONAL_CAPABILITIES).toContain(CAPABILITY_ROUND_ACK);
    expect(REQUIRED_CAPABILITIES).not.toContain(CAPABILITY_ROUND_ACK);
    expect(CAPABILITIES).toContain(CAPABILITY_ROUND_ACK);
  });
});
