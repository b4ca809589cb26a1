import { FRAME_HEADER_BYTES, isFrameType, type FrameType } from './constants.js';
import { BadArgumentError } from './errors.js';
import { sealFrame } from './frame-header.js';

/** Header + payload + CRC in one allocation. The payload is copied; the caller keeps its own. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  if (!isFrameType(type)) throw new BadArgumentError(`cannot encode unknown frame type ${String(type)}`);
  if (payload.length > 0xffffffff) throw new BadArgumentError(`frame payload of ${payload.length} bytes does not fit a u32 length`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  sealFrame(frame, type);
  return frame;
}
