import { crc32 as zlibCrc32 } from 'node:zlib';
import lz4 from 'lz4';
import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FrameDecoder,
  FrameType,
  PAGE_ENCODING_NAMES,
  PageBatchWriter,
  PageEncoding,
  encodeAbort,
  encodeAccept,
  encodeActivated,
  encodeChannelHello,
  encodeCommitted,
  encodeComplete,
  encodeConfirm,
  encodeCpuState,
  encodeFrame,
  encodeHello,
  encodeOutcome,
  encodeOutcomeQuery,
  encodeRefuse,
  encodeRoundBegin,
  encodeRoundEnd,
  frameTypeName,
} from '@livemig/protocol';
import { crc32, frameBytes, noise, pageBatchBytes, textPage } from './helpers.js';

const hello = {
  protocolVersion: 1,
  capabilities: ['lz4', 'zero'],
  guestId: 'guest-7',
  migrationId: '7d3c0c1e-2a4b-4c5d-8e9f-0a1b2c3d4e5f',
  geometry: { pageSize: 4096, memoryBytes: 64 * 4096, slotBytes: 32 * 4096, vcpus: 2 },
  workload: { name: 'counter', seed: 42, ops: 1_000_000, params: { stride: 3, ratio: 0.25 } },
};

const NONCE = '00112233445566778899aabbccddeeff';
const PROOF = 'f'.repeat(64);

/**
 * [name, type, encoder output, the object the test expects on the wire (msgpack-lite of it), the decoded
 * message when it differs from the wire object (defaults of fields left out)]
 */
const controlFrames: Array<[string, number, Buffer, object, object?]> = [
  ['Hello', 0x01, encodeHello(hello), hello, { ...hello, channels: 1 }],
  ['Hello with channels', 0x01, encodeHello({ ...hello, channels: 4 }), { ...hello, channels: 4 }],
  [
    'Accept',
    0x02,
    encodeAccept({ reservationId: 'r-1', capabilities: ['lz4'] }),
    { reservationId: 'r-1', capabilities: ['lz4'] },
    { reservationId: 'r-1', capabilities: ['lz4'], channelPorts: [] },
  ],
  [
    'Accept with channel ports',
    0x02,
    encodeAccept({ reservationId: 'r-1', capabilities: [], channelPorts: [40001, 65535] }),
    { reservationId: 'r-1', capabilities: [], channelPorts: [40001, 65535] },
  ],
  ['ChannelHello', 0x04, encodeChannelHello({ reservationId: 'r-1', channel: 63 }), { reservationId: 'r-1', channel: 63 }],
  ['Refuse', 0x03, encodeRefuse({ code: 'LM_ERR_REFUSED', message: 'no room' }), { code: 'LM_ERR_REFUSED', message: 'no room' }],
  ['RoundBegin', 0x10, encodeRoundBegin({ round: 1, pages: 64 }), { round: 1, pages: 64 }],
  ['RoundEnd', 0x12, encodeRoundEnd({ round: 3, pages: 5 }), { round: 3, pages: 5 }],
  [
    'CpuState',
    0x20,
    encodeCpuState({ registers: [new Uint8Array([1, 2, 3]), new Uint8Array(new SharedArrayBuffer(8)).fill(7)] }),
    { registers: [Buffer.from([1, 2, 3]), Buffer.alloc(8, 7)] },
    { registers: [Buffer.from([1, 2, 3]), Buffer.alloc(8, 7)], running: true },
  ],
  [
    'CpuState of a paused guest',
    0x20,
    encodeCpuState({ registers: [new Uint8Array([9])], running: false }),
    { registers: [Buffer.from([9])], running: false },
  ],
  [
    'Complete',
    0x21,
    encodeComplete({ digest: 'ab01', pagesSent: 99, nonce: NONCE }),
    { digest: 'ab01', pagesSent: 99, nonce: NONCE },
    { digest: 'ab01', pagesSent: 99, nonce: NONCE, rounds: 0 },
  ],
  [
    'Complete with rounds',
    0x21,
    encodeComplete({ digest: 'ab01', pagesSent: 99, rounds: 7, nonce: NONCE }),
    { digest: 'ab01', pagesSent: 99, rounds: 7, nonce: NONCE },
  ],
  ['Committed', 0x30, encodeCommitted({ digest: 'ab01', proof: PROOF }), { digest: 'ab01', proof: PROOF }],
  ['Activated', 0x31, encodeActivated({ activatedAtMs: 1_700_000_000_123 }), { activatedAtMs: 1_700_000_000_123 }],
  ['Confirm', 0x32, encodeConfirm({ migrationId: 'm-1' }), { migrationId: 'm-1' }],
  ['OutcomeQuery', 0x40, encodeOutcomeQuery({ migrationId: 'm-1' }), { migrationId: 'm-1' }],
  ['Outcome', 0x41, encodeOutcome({ migrationId: 'm-1', outcome: 'aborted' }), { migrationId: 'm-1', outcome: 'aborted' }],
  [
    'Outcome with a reason',
    0x41,
    encodeOutcome({ migrationId: 'm-1', outcome: 'unknown', reason: 'journaled by an earlier run' }),
    { migrationId: 'm-1', outcome: 'unknown', reason: 'journaled by an earlier run' },
  ],
  ['Abort', 0x7f, encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'operator' }), { code: 'LM_ERR_CANCELLED', message: 'operator' }],
];

describe('wire constants', () => {
  it('frame type codes and names match the documented table', () => {
    expect(FrameType).toEqual({
      Hello: 0x01, Accept: 0x02, Refuse: 0x03, ChannelHello: 0x04, RoundBegin: 0x10, PageBatch: 0x11, RoundEnd: 0x12,
      PageBatchDirect: 0x13, RoundAck: 0x14, CpuState: 0x20, Complete: 0x21, Committed: 0x30, Activated: 0x31, Confirm: 0x32,
      RepairRequest: 0x33, RepairTable: 0x34, RepairEnd: 0x35, OutcomeQuery: 0x40, Outcome: 0x41,
      PostcopyDiscard: 0x50, PostcopyRun: 0x51, UrgentHello: 0x52, PageRequest: 0x53, PostcopyEnd: 0x54, PostcopyDone: 0x55,
      PostcopyResume: 0x56, PostcopyReceived: 0x57,
      Abort: 0x7f,
    });
    expect(frameTypeName(0x11)).toBe('PageBatch');
    expect(frameTypeName(0x42)).toBe('unknown(0x42)');
    expect(PAGE_ENCODING_NAMES).toEqual({ 0: 'zero', 1: 'sameByte', 2: 'lz4', 3: 'raw', 4: 'delta', 5: 'lz4', 6: 'zstd' });
    expect(frameTypeName(0x04)).toBe('ChannelHello');
    expect(FRAME_MAGIC).toBe(0x4c4d4947);
    expect(Buffer.from('LMIG').readUInt32BE(0)).toBe(FRAME_MAGIC);
  });

  it('test helper CRC agrees with zlib.crc32, chained', () => {
    const a = noise(100, 3);
    const b = noise(77, 9);
    expect(crc32(b, crc32(a))).toBe(zlibCrc32(Buffer.from(b), zlibCrc32(Buffer.from(a))));
  });
});

describe('exact frame bytes', () => {
  it.each(controlFrames)('%s frame is the hand-built header + msgpack of the message', (_name, type, actual, wire) => {
    expect(actual).toEqual(frameBytes(type, msgpack.encode(wire)));
  });

  it('encoders cannot write the obsolete token of Hello and OutcomeQuery', () => {
    // Not in the types any more; a caller that slips one in gets the decoder's refusal, not a frame.
    expect(() => encodeHello({ ...hello, token: 'secret' } as typeof hello)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
    expect(() => encodeOutcomeQuery({ migrationId: 'm-1', token: 'secret' } as { migrationId: string })).toThrow(/'token': obsolete/);
  });

  it('encodeFrame writes header, payload and CRC over header[0..12) + payload', () => {
    const payload = Buffer.from([1, 2, 3, 4, 5]);
    const frame = encodeFrame(FrameType.RoundBegin, payload);
    expect(frame).toEqual(
      Buffer.from([0x4c, 0x4d, 0x49, 0x47, 2, 0x10, 0, 0, 0, 0, 0, 5, ...frame.subarray(12, 16), 1, 2, 3, 4, 5]),
    );
    expect(frame.readUInt32BE(12)).toBe(crc32(payload, crc32(frame.subarray(0, 12))));
    expect(encodeFrame(FrameType.Committed, new Uint8Array(0))).toEqual(frameBytes(0x30, new Uint8Array(0)));
  });

  it('PageBatch frame is the hand-built header + entries for every encoding', () => {
    const ff = new Uint8Array(4096).fill(0xff);
    const text = textPage();
    const random = noise(4096, 5);
    const writer = new PageBatchWriter();
    expect(writer.add(7, new Uint8Array(4096))).toBe(PageEncoding.Zero);
    expect(writer.addZero(8)).toBe(true);
    expect(writer.add(9, ff)).toBe(PageEncoding.SameByte);
    expect(writer.add(10, text)).toBe(PageEncoding.Lz4);
    expect(writer.add(0xfffffffe, random)).toBe(PageEncoding.Raw);
    expect(writer.pageCount).toBe(5);

    const scratch = Buffer.alloc(lz4.encodeBound(4096));
    const block = scratch.subarray(0, lz4.encodeBlock(Buffer.from(text), scratch));
    const payload = pageBatchBytes([
      { index: 7, encoding: 0 },
      { index: 8, encoding: 0 },
      { index: 9, encoding: 1, fill: 0xff },
      { index: 10, encoding: 2, block },
      { index: 0xfffffffe, encoding: 3, page: random },
    ]);
    expect(writer.payloadBytes).toBe(payload.length);
    expect(writer.takeFrame()).toEqual(frameBytes(0x11, payload));
    expect(writer.pageCount).toBe(0);
    expect(writer.payloadBytes).toBe(4);
  });

  it('an empty batch is a valid frame with count 0', () => {
    expect(new PageBatchWriter().takeFrame()).toEqual(frameBytes(0x11, Buffer.from([0, 0, 0, 0])));
  });

  it('decoding the hand-built bytes gives back each message', () => {
    for (const [, type, , wire, decoded] of controlFrames) {
      const frames = new FrameDecoder().push(frameBytes(type, msgpack.encode(wire)));
      expect(frames).toEqual([{ type, message: decoded ?? wire }]);
    }
    const payload = pageBatchBytes([{ index: 1, encoding: 1, fill: 3 }]);
    const [frame] = new FrameDecoder().push(frameBytes(0x11, payload));
    expect(frame).toEqual({ type: FrameType.PageBatch, payload, rawPageCrcs: [] });
    expect(FRAME_HEADER_BYTES).toBe(16);
  });
});
