import { crc32 } from './crc32.js';
import { crc32Combine } from './crc32-combine.js';
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  HEADER_CRC_COVERED_BYTES,
  HEADER_OFFSET_CRC,
  HEADER_OFFSET_FLAGS,
  HEADER_OFFSET_LENGTH,
  HEADER_OFFSET_TYPE,
  HEADER_OFFSET_VERSION,
  PROTOCOL_VERSION,
  isFrameType,
  type FrameType,
} from './constants.js';
import {
  BadFlagsError,
  BadMagicError,
  CrcMismatchError,
  FrameTooLargeError,
  UnknownFrameTypeError,
  UnsupportedVersionError,
} from './errors.js';

export interface FrameHeader {
  type: FrameType;
  /** Payload bytes after the 16-byte header. */
  payloadLength: number;
  crc: number;
}

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Reads and validates the 16 header bytes at `offset`, in wire order: magic, version, frame type, flags,
 * length. Nothing is allocated, so an oversize length is rejected before any payload is buffered.
 * The CRC is checked later, once the whole frame is present (`checkCrc`).
 * @throws BadMagicError, UnsupportedVersionError, UnknownFrameTypeError, BadFlagsError, FrameTooLargeError
 */
export function readFrameHeader(buf: Buffer, offset: number, maxPayloadBytes: number): FrameHeader {
  const magic = buf.readUInt32BE(offset);
  if (magic !== FRAME_MAGIC) throw new BadMagicError(`bad frame magic ${hex32(magic)}`);
  const version = buf.readUInt8(offset + HEADER_OFFSET_VERSION);
  if (version !== PROTOCOL_VERSION) {
    throw new UnsupportedVersionError(`unsupported protocol version ${version} (this side speaks ${PROTOCOL_VERSION})`);
  }
  const type = buf.readUInt8(offset + HEADER_OFFSET_TYPE);
  if (!isFrameType(type)) throw new UnknownFrameTypeError(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  const flags = buf.readUInt16BE(offset + HEADER_OFFSET_FLAGS);
  if (flags !== 0) throw new BadFlagsError(`bad frame flags 0x${flags.toString(16).padStart(4, '0')} (must be 0)`);
  const payloadLength = buf.readUInt32BE(offset + HEADER_OFFSET_LENGTH);
  if (payloadLength > maxPayloadBytes) {
    throw new FrameTooLargeError(`frame payload of ${payloadLength} bytes exceeds the limit of ${maxPayloadBytes}`);
  }
  return { type, payloadLength, crc: buf.readUInt32BE(offset + HEADER_OFFSET_CRC) };
}

/** CRC-32 over header bytes 0..11 followed by the payload; `frame` is one whole frame. */
export function frameCrc(frame: Uint8Array): number {
  return crc32(frame.subarray(FRAME_HEADER_BYTES), headerCrc(frame));
}

/** CRC-32 of the header bytes the frame CRC covers (0..11): where every frame's CRC starts. */
export function headerCrc(frame: Uint8Array): number {
  return crc32(frame.subarray(0, HEADER_CRC_COVERED_BYTES));
}

/** `actual`: the CRC of a whole frame; `expected`: its header's. @throws CrcMismatchError */
export function checkCrc(actual: number, expected: number): void {
  if (actual !== expected) throw new CrcMismatchError(`frame CRC mismatch: header says ${hex32(expected)}, frame gives ${hex32(actual)}`);
}

/** Writes a whole header, CRC included, into `frame` whose payload is already in place after byte 16. */
export function sealFrame(frame: Buffer, type: FrameType): void {
  writeHeaderBeforeCrc(frame, type);
  frame.writeUInt32BE(frameCrc(frame), HEADER_OFFSET_CRC);
}

/**
 * As `sealFrame`, given the CRC of the frame's tail `frame[tailStart, end)` (a CRC the caller built up while
 * writing it): only the bytes before the tail are read again. The CRC covers `frame`; a `payloadLength` beyond
 * it is written into the header but left out of the CRC (PageBatchDirect).
 */
export function sealFrameWithTailCrc(frame: Buffer, type: FrameType, tailStart: number, tailCrc: number, payloadLength?: number): void {
  writeHeaderBeforeCrc(frame, type, payloadLength);
  const headCrc = crc32(frame.subarray(FRAME_HEADER_BYTES, tailStart), headerCrc(frame));
  frame.writeUInt32BE(crc32Combine(headCrc, tailCrc, frame.length - tailStart), HEADER_OFFSET_CRC);
}

/** `payloadLength`: when the payload goes on beyond `frame` (PageBatchDirect's raw pages), its whole length. */
function writeHeaderBeforeCrc(frame: Buffer, type: FrameType, payloadLength = frame.length - FRAME_HEADER_BYTES): void {
  frame.writeUInt32BE(FRAME_MAGIC, 0);
  frame.writeUInt8(PROTOCOL_VERSION, HEADER_OFFSET_VERSION);
  frame.writeUInt8(type, HEADER_OFFSET_TYPE);
  frame.writeUInt16BE(0, HEADER_OFFSET_FLAGS);
  frame.writeUInt32BE(payloadLength, HEADER_OFFSET_LENGTH);
}
