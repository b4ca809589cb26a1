/** Guest page size in bytes; every page on the wire is exactly this long once decoded. */
export const PAGE_SIZE = 4096;

/**
 * Carried in every frame header; a decoder rejects any other value. Version 2 is the commit protocol
 * (Hello.migrationId, Complete.nonce, Committed.proof, Confirm, OutcomeQuery, Outcome): a version 1 destination
 * activates a guest as soon as it sends Committed, so the two must never meet, and a version 1 peer is refused
 * at the first frame header.
 */
export const PROTOCOL_VERSION = 2;

/**
 * Frame header, 16 bytes, all fields big-endian:
 *
 * | offset | size | field                                                      |
 * |-------:|-----:|------------------------------------------------------------|
 * |      0 |    4 | magic `0x4c4d4947` ("LMIG")                                 |
 * |      4 |    1 | protocol version                                           |
 * |      5 |    1 | frame type (`FrameType`)                                   |
 * |      6 |    2 | flags, must be 0 (none are defined)                        |
 * |      8 |    4 | payload length: bytes after the header, CRC not included   |
 * |     12 |    4 | CRC-32 (zlib) over header bytes 0..11, then the payload    |
 */
export const FRAME_MAGIC = 0x4c4d4947;
export const FRAME_HEADER_BYTES = 16;
export const HEADER_OFFSET_VERSION = 4;
export const HEADER_OFFSET_TYPE = 5;
export const HEADER_OFFSET_FLAGS = 6;
export const HEADER_OFFSET_LENGTH = 8;
export const HEADER_OFFSET_CRC = 12;
/** The CRC covers the header up to (not including) its own field. */
export const HEADER_CRC_COVERED_BYTES = 12;

/** A decoder rejects a longer payload as soon as the header arrives, before buffering any of it. */
export const DEFAULT_MAX_FRAME_PAYLOAD = 4 * 1024 * 1024;
/** Payload capacity of a PageBatchWriter unless told otherwise. */
export const DEFAULT_BATCH_PAYLOAD = 256 * 1024;

/** Every frame type, code in hex. Every payload but PageBatch's is one msgpack map. */
export const FrameType = {
  /** source -> dest: version, capabilities, guest geometry, workload, channels (a `token` is refused: TLS authenticates) */
  Hello: 0x01,
  /** dest -> source: the guest is reserved */
  Accept: 0x02,
  /** dest -> source: reservation refused; the source carries on unchanged */
  Refuse: 0x03,
  /** source -> dest: first frame on every data-channel connection: which reservation and channel it serves */
  ChannelHello: 0x04,
  /** source -> dest, data channel: a copy round starts; `pages` is this channel's share */
  RoundBegin: 0x10,
  /** source -> dest, data channel: binary page batch (see page-batch-reader.ts) */
  PageBatch: 0x11,
  /** source -> dest, data channel: a copy round ends on this channel */
  RoundEnd: 0x12,
  /**
   * source -> dest, data channel (capability direct-pages-v2): a page batch whose Raw pages follow its entries,
   * outside the frame CRC (page-batch-direct.ts); decoded as a PageBatch frame
   */
  PageBatchDirect: 0x13,
  /**
   * dest -> source, control connection (capability round-ack-v1): every data channel has applied round `round`
   * in full; the source begins round n + 2 only once round n is acknowledged (round-ack-messages.ts)
   */
  RoundAck: 0x14,
  /** source -> dest: the register file of every vCPU, after the final round */
  CpuState: 0x20,
  /** source -> dest: everything sent; image digest to verify */
  Complete: 0x21,
  /** dest -> source: digest verified and the commit journaled, with the proof; the guest stays parked until Confirm */
  Committed: 0x30,
  /** dest -> source: vCPUs running at the destination (after Confirm) */
  Activated: 0x31,
  /** source -> dest: Committed read and its proof checked; the source lets go, the destination may start vCPUs */
  Confirm: 0x32,
  /** dest -> source, commit (direct-pages-v2): the digests differ: send your page table, or these pages again */
  RepairRequest: 0x33,
  /** source -> dest, commit: a slice of the source's per-page CRC table, answering RepairRequest without pages */
  RepairTable: 0x34,
  /** source -> dest, commit: the pages RepairRequest named went out in PageBatch frames before this */
  RepairEnd: 0x35,
  /** source -> dest, first frame of an outcome connection: what became of this migration id? */
  OutcomeQuery: 0x40,
  /** dest -> source, outcome connection: committed, aborted or unknown, from the destination's journal */
  Outcome: 0x41,
  /** source -> dest: pages not present at the destination when post-copy starts (QEMU's DISCARD), ascending */
  PostcopyDiscard: 0x50,
  /** source -> dest, after the discard list and CpuState: the switch to post-copy; the destination runs the guest */
  PostcopyRun: 0x51,
  /** source -> dest, first frame of the urgent connection: the reservation it serves */
  UrgentHello: 0x52,
  /** dest -> source, urgent connection: pages a vCPU waits for (answered with PageBatch on the same connection) */
  PageRequest: 0x53,
  /** source -> dest: every page of the discard list has been sent, answered or pushed */
  PostcopyEnd: 0x54,
  /** dest -> source: every page is present; the source lets its copy go */
  PostcopyDone: 0x55,
  /** source -> dest, first frame of a recovery control connection after post-copy paused: the migration it resumes */
  PostcopyResume: 0x56,
  /** dest -> source, recovery control connection: the present map with QEMU's end mark; the source re-sends the rest */
  PostcopyReceived: 0x57,
  /** either way, before commit: give up; the sender closes afterwards */
  Abort: 0x7f,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const FRAME_TYPE_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, code]) => [code, name]));

export function isFrameType(type: number): type is FrameType {
  return FRAME_TYPE_NAMES.has(type);
}

/** 'Hello', 'PageBatch', ... or 'unknown(0x42)'. */
export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES.get(type) ?? `unknown(0x${type.toString(16).padStart(2, '0')})`;
}

/** Per-page encoding code in a page batch entry. */
export const PageEncoding = { Zero: 0, SameByte: 1, Lz4: 2, Raw: 3, Delta: 4, Lz4Run: 5, ZstdRun: 6 } as const;
export type PageEncoding = (typeof PageEncoding)[keyof typeof PageEncoding];

const PAGE_ENCODING_WIRE_NAMES = new Map<number, string>(Object.entries(PageEncoding).map(([name, code]) => [code, name]));

/** 'Zero', 'SameByte', 'Lz4Run', ...: a page entry's encoding as PROTOCOL.md names it, or 'unknown(9)'. */
export function pageEncodingName(code: number): string {
  return PAGE_ENCODING_WIRE_NAMES.get(code) ?? `unknown(${code})`;
}

/**
 * The encodings that statistics and reports count pages and bytes by (PageBatchStats, the source's report),
 * in report order. An Lz4Run entry's pages count as lz4 (PAGE_ENCODING_NAMES).
 */
export const ENCODING_NAMES = ['zero', 'sameByte', 'lz4', 'raw', 'delta', 'zstd'] as const;
export type EncodingName = (typeof ENCODING_NAMES)[number];

/** A count per encoding, all 0, keys in report order. */
export function emptyEncodingCounts(): Record<EncodingName, number> {
  return { zero: 0, sameByte: 0, lz4: 0, raw: 0, delta: 0, zstd: 0 };
}

/** The name each page entry's pages are counted under. */
export const PAGE_ENCODING_NAMES: Record<PageEncoding, EncodingName> = {
  [PageEncoding.Zero]: 'zero',
  [PageEncoding.SameByte]: 'sameByte',
  [PageEncoding.Lz4]: 'lz4',
  [PageEncoding.Raw]: 'raw',
  [PageEncoding.Delta]: 'delta',
  // Pages compressed together count as lz4 pages, and their entries' bytes as lz4 bytes.
  [PageEncoding.Lz4Run]: 'lz4',
  [PageEncoding.ZstdRun]: 'zstd',
};

/**
 * An Lz4Run entry compresses 2..16 consecutive pages as one lz4 block. lz4 looks back 64 KiB at most, so 16
 * pages is as far as a longer history helps; on text pages a 4-page block came to 28 % of its size, a lone
 * page to 42 %.
 */
export const MAX_RUN_PAGES = 16;

/** Lz4 and Delta entries carry a u16 length of 1..4095: an encoding no shorter than a page goes as Raw. */
export const MAX_ENCODED_PAGE_BYTES = PAGE_SIZE - 1;
/** PageBatchWriter tries a delta only while it stays within this many bytes, unless told otherwise. */
export const DEFAULT_MAX_DELTA_BYTES = 2048;

/** Data channels per migration (Hello.channels, Accept.channelPorts). */
export const MAX_CHANNELS = 16;
/** Largest channel number ChannelHello may carry; within one migration only 0..channels-1 are meaningful. */
export const MAX_CHANNEL_NUMBER = 63;
/** Pages are sharded to channels in groups of this many consecutive pages (see channelOfPage). */
export const CHANNEL_GROUP_PAGES = 64;

/**
 * Limits enforced on control messages (encode and decode). MAX_WIRE_VCPUS bounds a Hello's geometry and a
 * CpuState; an agent runs fewer (the guest package's MAX_VCPUS) and refuses a Hello beyond its own limit
 * with LM_ERR_HANDSHAKE instead of failing to decode it.
 */
export const MAX_WIRE_VCPUS = 256;
export const MAX_MEMORY_BYTES = 2 ** 46;
export const MAX_REGISTER_FILE_BYTES = 4096;
export const MAX_WORKLOAD_NAME_CHARS = 64;
export const MAX_WORKLOAD_PARAMS = 32;
export const MAX_CAPABILITIES = 64;
export const MAX_SHORT_STRING_CHARS = 256;
export const MAX_TEXT_CHARS = 4096;
export const MAX_DIGEST_CHARS = 128;
/** A migration id (Hello, Confirm, OutcomeQuery, Outcome): 1..64 of `A-Z a-z 0-9 . _ : -` (a UUID is 36). */
export const MAX_MIGRATION_ID_CHARS = 64;
/** Complete.nonce: this many random bytes, as 32 lowercase hex characters, fresh for every migration. */
export const COMMIT_NONCE_BYTES = 16;
/** Committed.proof: a SHA-256, 64 lowercase hex characters. */
export const COMMIT_PROOF_CHARS = 64;
/** Largest page index a batch entry can carry (u32). */
export const MAX_PAGE_INDEX = 0xffffffff;
