import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import {
  checkPageIndices,
  encodeAccept,
  encodePageRequest,
  encodePostcopyDiscard,
  encodePostcopyDone,
  encodePostcopyEnd,
  encodePostcopyRun,
  encodeUrgentHello,
  FrameDecoder,
  FrameType,
  MAX_DISCARD_PAGES,
  MAX_REQUEST_PAGES,
  type MigrationError,
} from '@livemig/protocol';
import { frameBytes, u32 } from './helpers.js';
import { decodeError } from './decode-error.js';

/** A page list as the wire carries it, built by hand: big-endian u32 indices in one bin. */
function pageBin(pages: number[]): Buffer {
  return Buffer.from(pages.flatMap(u32));
}


/** [name, type, encoder output, wire object (msgpack-lite of it is the payload), decoded message] */
const frames: Array<[string, number, Buffer, object, object]> = [
  [
    'PostcopyDiscard',
    0x50,
    encodePostcopyDiscard({ pages: Uint32Array.of(0, 7, 0x10000, 0xfffffffe) }),
    { pages: pageBin([0, 7, 0x10000, 0xfffffffe]) },
    { pages: Uint32Array.of(0, 7, 0x10000, 0xfffffffe) },
  ],
  ['PostcopyRun', 0x51, encodePostcopyRun({ discarded: 4, rounds: 3 }), { discarded: 4, rounds: 3 }, { discarded: 4, rounds: 3 }],
  ['UrgentHello', 0x52, encodeUrgentHello({ reservationId: 'r-1' }), { reservationId: 'r-1' }, { reservationId: 'r-1' }],
  [
    'PageRequest (any order)',
    0x53,
    encodePageRequest({ pages: Uint32Array.of(9, 3) }),
    { pages: pageBin([9, 3]) },
    { pages: Uint32Array.of(9, 3) },
  ],
  [
    'PostcopyEnd',
    0x54,
    encodePostcopyEnd({ pagesPushed: 60000, pagesAnswered: 12 }),
    { pagesPushed: 60000, pagesAnswered: 12 },
    { pagesPushed: 60000, pagesAnswered: 12 },
  ],
  ['PostcopyDone', 0x55, encodePostcopyDone({ presentPages: 65536 }), { presentPages: 65536 }, { presentPages: 65536 }],
  [
    'Accept with an urgent port',
    0x02,
    encodeAccept({ reservationId: 'r-1', capabilities: ['postcopy-v1'], channelPorts: [40001], urgentPort: 40002 }),
    { reservationId: 'r-1', capabilities: ['postcopy-v1'], channelPorts: [40001], urgentPort: 40002 },
    { reservationId: 'r-1', capabilities: ['postcopy-v1'], channelPorts: [40001], urgentPort: 40002 },
  ],
];

describe('post-copy frames', () => {
  it.each(frames)('%s is the hand-built header + msgpack of the message, and decodes back', (_name, type, actual, wire, decoded) => {
    const bytes = frameBytes(type, msgpack.encode(wire));
    expect(actual).toEqual(bytes);
    expect(new FrameDecoder().push(bytes)).toEqual([{ type, message: decoded }]);
  });

  it('a discard list of the most pages one frame may carry fits the default frame limit', () => {
    const pages = Uint32Array.from({ length: MAX_DISCARD_PAGES }, (_, i) => i * 2);
    const [frame] = new FrameDecoder().push(encodePostcopyDiscard({ pages }));
    expect(frame?.type).toBe(FrameType.PostcopyDiscard);
    expect(frame?.type === FrameType.PostcopyDiscard && frame.message.pages).toEqual(pages);
  });

  it('an oversize discard frame is refused on its header, before its payload is buffered', () => {
    const frame = encodePostcopyDiscard({ pages: Uint32Array.from({ length: 1000 }, (_, i) => i) });
    let error: MigrationError | undefined;
    try {
      new FrameDecoder({ maxPayloadBytes: 1024 }).push(frame.subarray(0, 16));
    } catch (e) {
      error = e as MigrationError;
    }
    expect(error?.code).toBe('LM_ERR_FRAME_TOO_LARGE');
  });

  it.each([
    ['a page list that is not whole u32 indices', 0x50, { pages: Buffer.from([0, 0, 0, 1, 0, 0]) }, /'pages': 6 bytes/],
    ['an empty page list', 0x53, { pages: Buffer.alloc(0) }, /'pages': 0 bytes/],
    ['a discard list out of order', 0x50, { pages: pageBin([5, 3]) }, /'pages': page 3 after 5/],
    ['a discard list with a page twice', 0x50, { pages: pageBin([5, 5]) }, /not strictly ascending/],
    ['a request for more than MAX_REQUEST_PAGES', 0x53, { pages: Buffer.alloc((MAX_REQUEST_PAGES + 1) * 4) }, /'pages': 4100 bytes, at most 4096/],
    ['a page list that is not bin', 0x53, { pages: [1, 2] }, /'pages': expected bin/],
    ['a discarded count beyond 2^32', 0x51, { discarded: 2 ** 32 + 1, rounds: 1 }, /discarded/],
    ['a switch without its rounds', 0x51, { discarded: 1 }, /rounds/],
    ['a negative pushed count', 0x54, { pagesPushed: -1, pagesAnswered: 0 }, /pagesPushed/],
    ['an urgent port of 0', 0x02, { reservationId: 'r', capabilities: [], urgentPort: 0 }, /urgentPort/],
    ['an UrgentHello without a reservation', 0x52, {}, /reservationId/],
  ])('%s is LM_ERR_BAD_MESSAGE naming the field', (_name, type, wire, message) => {
    const error = decodeError(frameBytes(type, msgpack.encode(wire)));
    expect(error.code).toBe('LM_ERR_BAD_MESSAGE');
    expect(error.message).toMatch(message);
  });

  it('encoders refuse what a decoder would reject', () => {
    expect(() => encodePageRequest({ pages: new Uint32Array(MAX_REQUEST_PAGES + 1) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
    expect(() => encodePostcopyDiscard({ pages: Uint32Array.of(2, 1) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
    expect(() => encodePostcopyDiscard({ pages: new Uint32Array(0) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
  });

  it('page indices beyond the guest are LM_ERR_PAGE_INDEX_OUT_OF_RANGE', () => {
    expect(() => checkPageIndices(Uint32Array.of(0, 99), 100)).not.toThrow();
    expect(() => checkPageIndices(Uint32Array.of(0, 100), 100)).toThrow(expect.objectContaining({ code: 'LM_ERR_PAGE_INDEX_OUT_OF_RANGE' }));
  });
});
