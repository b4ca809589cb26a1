import lz4 from 'lz4';
import zstd from 'zstd-napi';
import msgpack from 'msgpack-lite';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameDecoder,
  MigrationError,
  readPageBatch,
} from '@livemig/protocol';
import { frameBytes, memorySink, noise, pageBatchBytes, u32, type Entry } from './helpers.js';
import { decodeError } from './decode-error.js';


function batchError(entries: Entry[] | Buffer, pages = 8): MigrationError {
  const payload = Buffer.isBuffer(entries) ? entries : pageBatchBytes(entries);
  try {
    readPageBatch(payload, memorySink(pages));
  } catch (err) {
    expect(err).toBeInstanceOf(MigrationError);
    return err as MigrationError;
  }
  throw new Error('expected a page batch error');
}

/** An Lz4Run entry: u8 page count, u32 block length, block. */
function run(index: number, pages: number, block: Uint8Array): Entry {
  return { index, encoding: 5, raw: [pages, ...u32(block.length), ...block] };
}

/** A ZstdRun entry: u8 page count, u32 block length, block (one zstd frame). */
function zstdRun(index: number, pages: number, block: Uint8Array): Entry {
  return { index, encoding: 6, raw: [pages, ...u32(block.length), ...block] };
}

function zstdBlock(input: Uint8Array): Buffer {
  return zstd.compress(Buffer.from(input));
}

function lz4Block(input: Uint8Array): Buffer {
  const out = Buffer.alloc(lz4.encodeBound(input.length));
  const n = lz4.encodeBlock(Buffer.from(input), out);
  expect(n).toBeGreaterThan(0);
  return out.subarray(0, n);
}

const roundBegin = msgpack.encode({ round: 1, pages: 2 });

describe('malformed frame headers give typed errors', () => {
  it.each([
    ['bad magic', frameBytes(0x10, roundBegin, { magic: 0xdeadbeef }), 'LM_ERR_BAD_MAGIC', '0xdeadbeef'],
    ['unknown version', frameBytes(0x10, roundBegin, { version: 3 }), 'LM_ERR_UNSUPPORTED_VERSION', 'version 3'],
    ['version 1 (before the commit protocol)', frameBytes(0x10, roundBegin, { version: 1 }), 'LM_ERR_UNSUPPORTED_VERSION', 'version 1'],
    ['unknown frame type', frameBytes(0x5f, roundBegin), 'LM_ERR_UNKNOWN_FRAME_TYPE', '0x5f'],
    ['reserved frame type 0x00', frameBytes(0x00, roundBegin), 'LM_ERR_UNKNOWN_FRAME_TYPE', '0x00'],
    ['nonzero flags', frameBytes(0x10, roundBegin, { flags: 0x8000 }), 'LM_ERR_BAD_FLAGS', '0x8000'],
    ['CRC mismatch', frameBytes(0x10, roundBegin, { crc: 0x12345678 }), 'LM_ERR_CRC_MISMATCH', '0x12345678'],
  ])('%s', (_name, bytes, code, detail) => {
    const err = decodeError(bytes);
    expect(err.code).toBe(code);
    expect(err.message).toContain(detail);
  });

  it('a flipped payload bit is a CRC mismatch', () => {
    const frame = frameBytes(0x10, roundBegin);
    frame[frame.length - 1]! ^= 1;
    expect(decodeError(frame).code).toBe('LM_ERR_CRC_MISMATCH');
  });

  it('magic is checked before version, type, flags and length', () => {
    const frame = frameBytes(0x55, roundBegin, { magic: 1, version: 9, flags: 1, length: 0xffffffff });
    expect(decodeError(frame).code).toBe('LM_ERR_BAD_MAGIC');
  });

  it('an oversize length throws as soon as the 16-byte header arrives, before any payload', () => {
    const header = frameBytes(0x11, Buffer.alloc(0), { length: 1025 });
    const d = new FrameDecoder({ maxPayloadBytes: 1024 });
    for (let i = 0; i < 15; i++) expect(d.push(header.subarray(i, i + 1))).toEqual([]);
    expect(() => d.push(header.subarray(15, 16))).toThrow(expect.objectContaining({ code: 'LM_ERR_FRAME_TOO_LARGE' }));

    const huge = frameBytes(0x11, Buffer.alloc(0), { length: 0xffffffff });
    const err = decodeError(huge);
    expect(err.code).toBe('LM_ERR_FRAME_TOO_LARGE');
    expect(err.message).toContain(String(0xffffffff));
    expect(decodeError(frameBytes(0x11, Buffer.alloc(0), { length: DEFAULT_MAX_FRAME_PAYLOAD + 1 })).code).toBe('LM_ERR_FRAME_TOO_LARGE');
  });

  it('a decoder is dead after an error: every later push and end throws the same error', () => {
    const d = new FrameDecoder();
    let first: unknown;
    try {
      d.push(frameBytes(0x10, roundBegin, { magic: 0 }));
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(MigrationError);
    expect(() => d.push(frameBytes(0x10, roundBegin))).toThrow(first as Error);
    expect(() => d.end()).toThrow(first as Error);
  });
});

describe('truncated stream', () => {
  it('end() inside a header throws LM_ERR_TRUNCATED', () => {
    const d = new FrameDecoder();
    d.push(frameBytes(0x10, roundBegin).subarray(0, 7));
    expect(d.hasPartialFrame).toBe(true);
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }));
  });

  it('end() inside a payload throws LM_ERR_TRUNCATED', () => {
    const frame = frameBytes(0x10, roundBegin);
    const d = new FrameDecoder();
    d.push(frame.subarray(0, frame.length - 1));
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }));
  });

  it('end() between frames is fine', () => {
    const d = new FrameDecoder();
    d.push(frameBytes(0x10, roundBegin));
    expect(d.hasPartialFrame).toBe(false);
    expect(() => d.end()).not.toThrow();
  });
});

describe('malformed control messages give LM_ERR_BAD_MESSAGE naming the field', () => {
  const geometry = { pageSize: 4096, memoryBytes: 8192, slotBytes: 4096, vcpus: 1 };
  const workload = { name: 'w', seed: 0, ops: 0, params: {} };
  const hello = { protocolVersion: 1, capabilities: [], guestId: 'g', migrationId: 'm', geometry, workload };

  it.each([
    ['bad msgpack (0xc1 is never used)', 0x10, Buffer.from([0xc1]), 'bad msgpack'],
    ['truncated msgpack', 0x10, roundBegin.subarray(0, roundBegin.length - 1), 'truncated msgpack'],
    ['empty payload', 0x31, Buffer.alloc(0), 'truncated msgpack'],
    ['bytes after the msgpack value', 0x10, Buffer.concat([roundBegin, Buffer.from([0])]), '1 bytes after'],
    ['payload not a map', 0x10, msgpack.encode([1, 2]), "'message'"],
    ['round as string', 0x10, msgpack.encode({ round: '1', pages: 2 }), "'round'"],
    ['round not an integer', 0x12, msgpack.encode({ round: 1.5, pages: 2 }), "'round'"],
    ['round 0', 0x10, msgpack.encode({ round: 0, pages: 2 }), "'round'"],
    ['negative pages', 0x12, msgpack.encode({ round: 1, pages: -1 }), "'pages'"],
    ['missing field', 0x21, msgpack.encode({ digest: 'aa' }), "'pagesSent'"],
    ['uppercase digest', 0x30, msgpack.encode({ digest: 'AB' }), "'digest'"],
    ['vcpus as string', 0x01, msgpack.encode({ ...hello, geometry: { ...geometry, vcpus: '1' } }), "'geometry.vcpus'"],
    ['vcpus 257', 0x01, msgpack.encode({ ...hello, geometry: { ...geometry, vcpus: 257 } }), "'geometry.vcpus'"],
    ['page size 8192', 0x01, msgpack.encode({ ...hello, geometry: { ...geometry, pageSize: 8192 } }), "'geometry.pageSize'"],
    ['memory not whole pages', 0x01, msgpack.encode({ ...hello, geometry: { ...geometry, memoryBytes: 5000 } }), "'geometry.memoryBytes'"],
    ['memory over 2**46', 0x01, msgpack.encode({ ...hello, geometry: { ...geometry, memoryBytes: 2 ** 46 + 4096 } }), "'geometry.memoryBytes'"],
    ['workload name too long', 0x01, msgpack.encode({ ...hello, workload: { ...workload, name: 'x'.repeat(65) } }), "'workload.name'"],
    ['param not finite', 0x01, msgpack.encode({ ...hello, workload: { ...workload, params: { a: NaN } } }), "'workload.params.a'"],
    ['too many params', 0x01, msgpack.encode({ ...hello, workload: { ...workload, params: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, i])) } }), "'workload.params'"],
    ['Hello with the obsolete token', 0x01, msgpack.encode({ ...hello, token: 'secret' }), "'token': obsolete: this agent authenticates with TLS only"],
    ['Hello with the obsolete token, empty', 0x01, msgpack.encode({ ...hello, token: '' }), "'token': obsolete"],
    ['Hello with the obsolete token as number', 0x01, msgpack.encode({ ...hello, token: 5 }), "'token': obsolete"],
    ['capability not a string', 0x02, msgpack.encode({ reservationId: 'r', capabilities: [1] }), "'capabilities[0]'"],
    ['register file as ext (typed array), not bin', 0x20, msgpack.encode({ registers: [new Uint8Array(4)] }), "'registers[0]'"],
    ['register file too long', 0x20, msgpack.encode({ registers: [Buffer.alloc(4097)] }), "'registers[0]'"],
    ['too many register files', 0x20, msgpack.encode({ registers: Array.from({ length: 257 }, () => Buffer.alloc(1)) }), "'registers'"],
    ['activatedAtMs negative', 0x31, msgpack.encode({ activatedAtMs: -1 }), "'activatedAtMs'"],
    ['abort code empty', 0x7f, msgpack.encode({ code: '', message: 'x' }), "'code'"],
    ['channels 0', 0x01, msgpack.encode({ ...hello, channels: 0 }), "'channels'"],
    ['channels 17', 0x01, msgpack.encode({ ...hello, channels: 17 }), "'channels'"],
    ['channels as string', 0x01, msgpack.encode({ ...hello, channels: '2' }), "'channels'"],
    ['channelPorts empty', 0x02, msgpack.encode({ reservationId: 'r', capabilities: [], channelPorts: [] }), "'channelPorts'"],
    ['channel port 0', 0x02, msgpack.encode({ reservationId: 'r', capabilities: [], channelPorts: [0] }), "'channelPorts[0]'"],
    ['channel port 65536', 0x02, msgpack.encode({ reservationId: 'r', capabilities: [], channelPorts: [80, 65536] }), "'channelPorts[1]'"],
    ['17 channel ports', 0x02, msgpack.encode({ reservationId: 'r', capabilities: [], channelPorts: Array(17).fill(80) }), "'channelPorts'"],
    ['ChannelHello channel 64', 0x04, msgpack.encode({ reservationId: 'r', channel: 64 }), "'channel'"],
    ['ChannelHello channel -1', 0x04, msgpack.encode({ reservationId: 'r', channel: -1 }), "'channel'"],
    ['ChannelHello empty reservation', 0x04, msgpack.encode({ reservationId: '', channel: 0 }), "'reservationId'"],
    ['ChannelHello reservation of 257 chars', 0x04, msgpack.encode({ reservationId: 'r'.repeat(257), channel: 0 }), "'reservationId'"],
    ['running as number', 0x20, msgpack.encode({ registers: [], running: 1 }), "'running'"],
    ['rounds 0', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, rounds: 0 }), "'rounds'"],
    ['rounds 2**32', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, rounds: 2 ** 32 }), "'rounds'"],
    ['Hello without a migration id', 0x01, msgpack.encode({ ...hello, migrationId: undefined }), "'migrationId'"],
    ['migration id with a slash', 0x01, msgpack.encode({ ...hello, migrationId: '../m' }), "'migrationId'"],
    ['migration id of 65 chars', 0x01, msgpack.encode({ ...hello, migrationId: 'm'.repeat(65) }), "'migrationId'"],
    ['Complete without a nonce', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1 }), "'nonce'"],
    ['nonce of 31 hex chars', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, nonce: 'a'.repeat(31) }), "'nonce'"],
    ['nonce of 34 hex chars', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, nonce: 'a'.repeat(34) }), "'nonce'"],
    ['uppercase nonce', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, nonce: 'A'.repeat(32) }), "'nonce'"],
    ['nonce as bin', 0x21, msgpack.encode({ digest: 'aa', pagesSent: 1, nonce: Buffer.alloc(16) }), "'nonce'"],
    ['Committed without a proof', 0x30, msgpack.encode({ digest: 'ab' }), "'proof'"],
    ['proof of 63 hex chars', 0x30, msgpack.encode({ digest: 'ab', proof: 'a'.repeat(63) }), "'proof'"],
    ['proof of 65 hex chars', 0x30, msgpack.encode({ digest: 'ab', proof: 'a'.repeat(65) }), "'proof'"],
    ['proof not hex', 0x30, msgpack.encode({ digest: 'ab', proof: 'g'.repeat(64) }), "'proof'"],
    ['Confirm with an empty migration id', 0x32, msgpack.encode({ migrationId: '' }), "'migrationId'"],
    ['Confirm without a migration id', 0x32, msgpack.encode({}), "'migrationId'"],
    ['OutcomeQuery migration id with a space', 0x40, msgpack.encode({ migrationId: 'a b' }), "'migrationId'"],
    ['OutcomeQuery with the obsolete token', 0x40, msgpack.encode({ migrationId: 'm', token: 'secret' }), "'token': obsolete"],
    ['Outcome not one of the three', 0x41, msgpack.encode({ migrationId: 'm', outcome: 'maybe' }), "'outcome'"],
    ['Outcome without an outcome', 0x41, msgpack.encode({ migrationId: 'm' }), "'outcome'"],
    ['Outcome reason as number', 0x41, msgpack.encode({ migrationId: 'm', outcome: 'aborted', reason: 1 }), "'reason'"],
    ['Outcome reason of 4097 chars', 0x41, msgpack.encode({ migrationId: 'm', outcome: 'aborted', reason: 'x'.repeat(4097) }), "'reason'"],
  ])('%s', (_name, type, payload, detail) => {
    const err = decodeError(frameBytes(type, payload));
    expect(err.code).toBe('LM_ERR_BAD_MESSAGE');
    expect(err.message).toContain(detail);
  });

  it('unknown extra fields are ignored', () => {
    const [frame] = new FrameDecoder().push(frameBytes(0x10, msgpack.encode({ round: 2, pages: 3, extra: [1, 2] })));
    expect(frame).toEqual({ type: 0x10, message: { round: 2, pages: 3 } });
  });

  it('a nil token counts as absent (msgpack has no undefined), in Hello and OutcomeQuery', () => {
    const decoded = new FrameDecoder().push(
      Buffer.concat([frameBytes(0x01, msgpack.encode({ ...hello, migrationId: 'm-2', token: null })), frameBytes(0x40, msgpack.encode({ migrationId: 'm', token: null }))]),
    );
    expect(decoded.map((frame) => ('message' in frame ? Object.keys(frame.message).includes('token') : true))).toEqual([false, false]);
    expect(decoded.map((frame) => frame.type)).toEqual([0x01, 0x40]);
  });
});

describe('malformed page batches give typed errors', () => {
  it.each<[string, Entry[] | Buffer, string, string]>([
    ['page index out of range', [{ index: 8, encoding: 0 }], 'LM_ERR_PAGE_INDEX_OUT_OF_RANGE', 'page index 8'],
    ['unknown page encoding 7', [{ index: 1, encoding: 7, raw: [] }], 'LM_ERR_UNKNOWN_PAGE_ENCODING', 'encoding 7'],
    ['unknown page encoding 0xff', [{ index: 1, encoding: 0xff, raw: [] }], 'LM_ERR_UNKNOWN_PAGE_ENCODING', 'encoding 255'],
    ['lz4 block inflating past a page', [{ index: 1, encoding: 2, block: lz4Block(new Uint8Array(8192).fill(3)) }], 'LM_ERR_PAGE_INFLATE', 'past 4096'],
    ['lz4 block inflating to less than a page', [{ index: 1, encoding: 2, block: lz4Block(new Uint8Array(100).fill(3)) }], 'LM_ERR_PAGE_INFLATE', 'to 100 bytes'],
    ['lz4 block of garbage', [{ index: 1, encoding: 2, block: Buffer.from([0x1f, 0, 0, 0xff, 0xff]) }], 'LM_ERR_PAGE_INFLATE', 'page 1'],
    ['lz4 length 0', [{ index: 1, encoding: 2, raw: [0, 0] }], 'LM_ERR_PAGE_INFLATE', 'length 0'],
    ['lz4 length 4096', [{ index: 1, encoding: 2, raw: [0x10, 0x00] }], 'LM_ERR_PAGE_INFLATE', 'length 4096'],
    ['raw page cut short', [{ index: 1, encoding: 3, raw: Array(100).fill(1) }], 'LM_ERR_TRUNCATED', 'raw page 1'],
    ['lz4 block cut short', [{ index: 1, encoding: 2, raw: [0, 50, 1, 2] }], 'LM_ERR_TRUNCATED', 'lz4 block'],
    ['same-byte entry without its fill byte', [{ index: 1, encoding: 1, raw: [] }], 'LM_ERR_TRUNCATED', 'fill byte'],
    ['count larger than the entries', pageBatchBytes([{ index: 1, encoding: 0 }, { index: 2, encoding: 0 }], 3), 'LM_ERR_TRUNCATED', '3 entries'],
    ['count of 2**32-1', pageBatchBytes([], 0xffffffff), 'LM_ERR_TRUNCATED', 'entries cannot fit'],
    ['payload shorter than the count', Buffer.from([0, 0]), 'LM_ERR_TRUNCATED', 'entry count'],
    ['bytes after the last entry', Buffer.concat([pageBatchBytes([{ index: 1, encoding: 0 }]), Buffer.from([9])]), 'LM_ERR_TRUNCATED', '1 bytes after'],
    ['lz4 run of 1 page', [run(1, 1, lz4Block(new Uint8Array(4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'has 1 pages'],
    ['lz4 run of 17 pages', [run(0, 17, lz4Block(new Uint8Array(17 * 4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'has 17 pages'],
    ['lz4 run past the last page', [run(6, 3, lz4Block(new Uint8Array(3 * 4096).fill(3)))], 'LM_ERR_PAGE_INDEX_OUT_OF_RANGE', 'pages 6..8'],
    ['lz4 run inflating past its pages', [run(1, 2, lz4Block(new Uint8Array(3 * 4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'past 8192'],
    ['lz4 run inflating to less than its pages', [run(1, 2, lz4Block(new Uint8Array(4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'to 4096 bytes'],
    ['lz4 run length 0', [{ index: 1, encoding: 5, raw: [2, ...u32(0)] }], 'LM_ERR_PAGE_INFLATE', 'length 0'],
    ['lz4 run length of its pages', [{ index: 1, encoding: 5, raw: [2, ...u32(8192)] }], 'LM_ERR_PAGE_INFLATE', 'length 8192'],
    ['lz4 run header cut short', [{ index: 1, encoding: 5, raw: [2, 0] }], 'LM_ERR_TRUNCATED', 'run header'],
    ['lz4 run block cut short', [{ index: 1, encoding: 5, raw: [2, ...u32(50), 1, 2] }], 'LM_ERR_TRUNCATED', 'lz4 run block'],
    ['zstd run of 0 pages', [zstdRun(1, 0, zstdBlock(new Uint8Array(4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'has 0 pages'],
    ['zstd run of 17 pages', [zstdRun(0, 17, zstdBlock(new Uint8Array(17 * 4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'has 17 pages'],
    ['zstd run past the last page', [zstdRun(6, 3, zstdBlock(new Uint8Array(3 * 4096).fill(3)))], 'LM_ERR_PAGE_INDEX_OUT_OF_RANGE', 'pages 6..8'],
    ['zstd run inflating past its pages', [zstdRun(1, 2, zstdBlock(new Uint8Array(3 * 4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'past 8192'],
    ['zstd run inflating to less than its pages', [zstdRun(1, 2, zstdBlock(new Uint8Array(4096).fill(3)))], 'LM_ERR_PAGE_INFLATE', 'to 4096 bytes'],
    ['zstd run of garbage', [zstdRun(1, 1, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9, 9]))], 'LM_ERR_PAGE_INFLATE', 'zstd run block of page 1'],
    ['zstd run block cut short', [{ index: 1, encoding: 6, raw: [1, ...u32(50), 1, 2] }], 'LM_ERR_TRUNCATED', 'zstd run block'],
  ])('%s', (_name, entries, code, detail) => {
    const err = batchError(entries);
    expect(err.code).toBe(code);
    expect(err.message).toContain(detail);
  });
});

describe('hostile input never crashes or hangs', () => {
  it('property: random bytes into the decoder give frames or a MigrationError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withMagic) => {
        const input = Buffer.from(bytes);
        if (withMagic && input.length >= 6) {
          input.writeUInt32BE(0x4c4d4947, 0);
          input[4] = 2;
        }
        const d = new FrameDecoder();
        try {
          d.push(input);
          d.end();
        } catch (err) {
          expect(err).toBeInstanceOf(MigrationError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('property: random page batch payloads are applied or give a MigrationError', () => {
    const entry = fc.tuple(fc.nat({ max: 10 }), fc.nat({ max: 6 }), fc.uint8Array({ maxLength: 40 }));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), fc.nat({ max: 8 }), (entries, count) => {
        const payload = pageBatchBytes(entries.map(([index, encoding, raw]) => ({ index, encoding, raw: [...raw] })), count);
        try {
          readPageBatch(payload, memorySink(8));
        } catch (err) {
          expect(err).toBeInstanceOf(MigrationError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('property: random msgpack values in every control frame give a message or LM_ERR_BAD_MESSAGE', () => {
    const types = [0x01, 0x02, 0x03, 0x04, 0x10, 0x12, 0x20, 0x21, 0x30, 0x31, 0x32, 0x40, 0x41, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x7f];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.anything({ withNullPrototype: false }), (type, value) => {
        try {
          new FrameDecoder().push(frameBytes(type, msgpack.encode(value)));
        } catch (err) {
          expect((err as MigrationError).code).toBe('LM_ERR_BAD_MESSAGE');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a frame whose CRC field is wrong is rejected before its payload is decoded', () => {
    const frame = frameBytes(0x11, noise(4096, 2), { crc: 0 });
    expect(decodeError(frame).code).toBe('LM_ERR_CRC_MISMATCH');
  });
});

describe('encoders refuse what a decoder would reject', () => {
  it('encodeHello with 300 vCPUs throws LM_ERR_BAD_MESSAGE naming the field', async () => {
    const { encodeHello } = await import('@livemig/protocol');
    const geometry = { pageSize: 4096, memoryBytes: 8192, slotBytes: 4096, vcpus: 300 };
    expect(() =>
      encodeHello({ protocolVersion: 1, capabilities: [], guestId: 'g', migrationId: 'm', geometry, workload: { name: 'w', seed: 0, ops: 0, params: {} } }),
    ).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE', message: expect.stringContaining('geometry.vcpus') }));
  });

  it('encodeComplete without a nonce and encodeCommitted without a proof throw LM_ERR_BAD_MESSAGE', async () => {
    const { encodeCommitted, encodeComplete } = await import('@livemig/protocol');
    const bad = (field: string) => expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE', message: expect.stringContaining(`'${field}'`) });
    expect(() => encodeComplete({ digest: 'aa', pagesSent: 0, nonce: '' })).toThrow(bad('nonce'));
    expect(() => encodeCommitted({ digest: 'aa', proof: 'aa' })).toThrow(bad('proof'));
  });

  it('encodeOutcome clips a long reason to 4096 characters instead of failing', async () => {
    const { encodeOutcome } = await import('@livemig/protocol');
    const [frame] = new FrameDecoder().push(encodeOutcome({ migrationId: 'm', outcome: 'unknown', reason: 'y'.repeat(5000) }));
    expect(frame).toEqual({ type: 0x41, message: { migrationId: 'm', outcome: 'unknown', reason: 'y'.repeat(4096) } });
  });

  it('encodeAbort clips a long message to 4096 characters instead of failing', async () => {
    const { encodeAbort } = await import('@livemig/protocol');
    const [frame] = new FrameDecoder().push(encodeAbort({ code: 'LM_ERR_TIMEOUT', message: 'x'.repeat(10_000) }));
    expect(frame).toEqual({ type: 0x7f, message: { code: 'LM_ERR_TIMEOUT', message: 'x'.repeat(4096) } });
  });
});
