import fc from 'fast-check';
import msgpack from 'msgpack-lite';
import {
  CAPABILITIES,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  PageEncoding,
  encodeChannelHello,
  encodeFrame,
  encodeHello,
} from '@livemig/protocol';

/**
 * What the fuzz campaign sends: generated and mutated frames and messages, drawn by fast-check from a recorded
 * seed. Inputs are sampled in blocks of BLOCK_INPUTS, block b from seed `seed + b`, so input i of a run replays
 * alone with `sampleBlock(arbitrary, seed + floor(i / BLOCK_INPUTS))[i % BLOCK_INPUTS]`.
 */
export const BLOCK_INPUTS = 500;

/** The fuzzed destination's guest: 16 pages, so page indices 0..15 are in range and the rest are not. */
export const FUZZ_GUEST_PAGES = 16;
const FRAME_TYPES = Object.values(FrameType);
/** Byte offset of the u32 payload length in the 16-byte frame header (PROTOCOL.md, "Frame header"). */
const HEADER_OFFSET_LENGTH = 8;

export function fuzzHello(migrationId: string, channels = 1): Buffer {
  return encodeHello(helloFields(migrationId, channels) as Parameters<typeof encodeHello>[0]);
}

function helloFields(migrationId: string, channels: number): Record<string, unknown> {
  return {
    protocolVersion: PROTOCOL_VERSION,
    capabilities: [...CAPABILITIES],
    guestId: 'fuzz',
    migrationId,
    geometry: { pageSize: PAGE_SIZE, memoryBytes: FUZZ_GUEST_PAGES * PAGE_SIZE, slotBytes: FUZZ_GUEST_PAGES * PAGE_SIZE, vcpus: 1 },
    workload: { name: 'idle', seed: 1, ops: 0, params: {} },
    channels,
  };
}

/** A valid message object of each kind a source sends, to be mutated field by field. */
const MESSAGE_EXAMPLES: { type: FrameType; fields: Record<string, unknown> }[] = [
  { type: FrameType.Hello, fields: helloFields('fuzz-example', 2) },
  { type: FrameType.ChannelHello, fields: { reservationId: 'r1', channel: 0 } },
  { type: FrameType.RoundBegin, fields: { round: 1, pages: 4 } },
  { type: FrameType.RoundEnd, fields: { round: 1, pages: 4 } },
  { type: FrameType.CpuState, fields: { registers: [Buffer.alloc(64)], running: true } },
  { type: FrameType.Complete, fields: { digest: 'a'.repeat(64), pagesSent: 16, rounds: 1, nonce: '0'.repeat(32) } },
  { type: FrameType.Confirm, fields: { migrationId: 'fuzz-example' } },
  { type: FrameType.OutcomeQuery, fields: { migrationId: 'fuzz-example' } },
  { type: FrameType.Abort, fields: { code: 'LM_ERR_CANCELLED', message: 'x' } },
  { type: FrameType.UrgentHello, fields: { reservationId: 'r1' } },
  { type: FrameType.PostcopyEnd, fields: { pagesPushed: 1, pagesAnswered: 1 } },
];

/** Values a field may be replaced by: anything msgpack carries, plus the edges validators care about. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_VALUE, Number.NaN, -0, '', 'x'.repeat(5000), null, true),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.array(fc.integer(), { maxLength: 70 }),
);

/** A valid message with one to three fields replaced, removed or added, packed into a frame with a valid CRC. */
const mutatedMessage = fc
  .tuple(fc.constantFrom(...MESSAGE_EXAMPLES), fc.array(fc.tuple(fc.nat(), fc.constantFrom('set', 'delete', 'add'), fieldValue), { minLength: 1, maxLength: 3 }))
  .map(([example, edits]) => {
    const fields: Record<string, unknown> = { ...example.fields };
    for (const [at, edit, value] of edits) {
      const keys = Object.keys(fields);
      const key = keys[at % Math.max(1, keys.length)] ?? 'extra';
      if (edit === 'delete') delete fields[key];
      else fields[edit === 'add' ? `extra${at % 4}` : key] = value;
    }
    return encodeFrame(example.type, msgpack.encode(fields));
  });

/** Any frame type around a msgpack value of any shape (valid CRC): the validators' input. */
const anyShapeMessage = fc
  .tuple(fc.constantFrom(...FRAME_TYPES), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.string({ maxLength: 12 }), fieldValue, { maxKeys: 8 })))
  .map(([type, value]) => encodeFrame(type, msgpack.encode(value)));

/** A page batch of entries with any encoding byte and lengths, indices mostly near the guest's range. */
const pageBatchPayload = fc
  .array(
    fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: FUZZ_GUEST_PAGES + 4 }), fc.nat()),
      fc.oneof(fc.constantFrom(...Object.values(PageEncoding)), fc.integer({ min: 0, max: 255 })),
      fc.uint8Array({ maxLength: 64 }),
      fc.integer({ min: 0, max: 0xffff }),
    ),
    { maxLength: 6 },
  )
  .chain((entries) =>
    fc.tuple(fc.constant(entries), fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([list, countSkew, rawPage]) => {
      const parts: Buffer[] = [u32(Math.max(0, list.length + countSkew))];
      for (const [index, encoding, body, length] of list) {
        parts.push(u32(index), Buffer.of(encoding));
        if (encoding === PageEncoding.Raw) parts.push(rawPage ? Buffer.alloc(PAGE_SIZE, body[0] ?? 0) : Buffer.from(body));
        else if (encoding === PageEncoding.SameByte) parts.push(Buffer.of(body[0] ?? 7));
        else if (encoding === PageEncoding.Lz4 || encoding === PageEncoding.Delta) parts.push(u16(length % 4096 || body.length), Buffer.from(body));
        else if (encoding === PageEncoding.Lz4Run || encoding === PageEncoding.ZstdRun) parts.push(Buffer.of(length % 20), u32(length), Buffer.from(body));
        else parts.push(Buffer.from(body));
      }
      return Buffer.concat(parts);
    }),
  );

/** A well-formed batch (in-range pages, Zero, SameByte and Raw entries): what the mutations start from. */
const wellFormedBatchPayload = fc
  .array(fc.tuple(fc.integer({ min: 0, max: FUZZ_GUEST_PAGES - 1 }), fc.constantFrom(PageEncoding.Zero, PageEncoding.SameByte, PageEncoding.Raw), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
  .map((entries) => {
    const parts: Buffer[] = [u32(entries.length)];
    for (const [index, encoding, fill] of entries) {
      parts.push(u32(index), Buffer.of(encoding));
      if (encoding === PageEncoding.SameByte) parts.push(Buffer.of(fill));
      if (encoding === PageEncoding.Raw) parts.push(Buffer.alloc(PAGE_SIZE, fill));
    }
    return Buffer.concat(parts);
  });

const pageBatchFrame = fc.oneof(pageBatchPayload, wellFormedBatchPayload, flipped(wellFormedBatchPayload)).map((payload) => encodeFrame(FrameType.PageBatch, payload));

/** Random bytes, some starting with a valid frame's first bytes so that they get past the magic. */
const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
  fc.tuple(fc.constantFrom(...FRAME_TYPES), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([type, tail]) =>
    Buffer.concat([encodeFrame(type, Buffer.alloc(0)).subarray(0, 8), Buffer.from(tail)]),
  ),
);

/** Bytes of `base` overwritten at one to eight places, and sometimes cut short. */
function flipped(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
    .map(([frame, flips, cut]) => {
      const bytes = Buffer.from(frame);
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      return cut % 4 === 0 ? bytes.subarray(0, bytes.length - (cut % bytes.length)) : bytes;
    });
}

/** A valid header that claims any payload length (up to 4 GiB), followed by at most 8 KiB of it. */
const lyingHeader = fc
  .tuple(fc.constantFrom(...FRAME_TYPES), fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(4 * 2 ** 20, 4 * 2 ** 20 + 1, 0xffffffff)), fc.nat({ max: 8192 }))
  .map(([type, length, sent]) => {
    const header = encodeFrame(type, Buffer.alloc(0));
    header.writeUInt32BE(length, HEADER_OFFSET_LENGTH);
    return Buffer.concat([header, Buffer.alloc(Math.min(sent, length))]);
  });

const helloFrame = fc.nat().map((n) => fuzzHello(`fuzz-${n}`, 1 + (n % 3)));

/** One connection's worth of bytes on a destination's main port, or one stream for the decoder. */
export const streamInput: fc.Arbitrary<Buffer> = fc.oneof(
  randomBytes,
  flipped(helloFrame),
  mutatedMessage,
  anyShapeMessage,
  flipped(mutatedMessage),
  pageBatchFrame,
  lyingHeader,
  fc.array(fc.oneof(mutatedMessage, pageBatchFrame, anyShapeMessage), { minLength: 2, maxLength: 4 }).map((frames) => Buffer.concat(frames)),
);

/**
 * A data port's input before its ChannelHello is accepted: random bytes, a ChannelHello with the wrong
 * reservation id or channel, or flipped. The port answers these and keeps waiting for the real source.
 */
export const strangerChannelInput: fc.Arbitrary<Buffer> = fc.oneof(
  randomBytes,
  fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 15 })).map(([reservationId, channel]) => encodeChannelHello({ reservationId, channel })),
  flipped(fc.constant(encodeChannelHello({ reservationId: 'not-the-reservation', channel: 0 }))),
  anyShapeMessage,
  lyingHeader,
);

/**
 * What follows the real ChannelHello on a data channel: one to four rounds' frames, mutated. The migration
 * fails (or waits for more and is ended by its control connection); either way the reservation is released.
 */
export const channelTraffic: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: 0, max: FUZZ_GUEST_PAGES + 2 })).map(([round, pages]) => encodeFrame(FrameType.RoundBegin, msgpack.encode({ round, pages }))),
      fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: 0, max: FUZZ_GUEST_PAGES + 2 })).map(([round, pages]) => encodeFrame(FrameType.RoundEnd, msgpack.encode({ round, pages }))),
      pageBatchFrame,
      flipped(pageBatchFrame),
      mutatedMessage,
      randomBytes,
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((frames) => Buffer.concat(frames));

/** Block `block` of a run seeded `seed`: BLOCK_INPUTS inputs, the same ones every time. */
export function sampleBlock<T>(arbitrary: fc.Arbitrary<T>, seed: number, block: number): T[] {
  return fc.sample(arbitrary, { seed: seed + block, numRuns: BLOCK_INPUTS });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
