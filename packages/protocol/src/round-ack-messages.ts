import msgpack from 'msgpack-lite';
import { FrameType, MAX_MEMORY_BYTES, PAGE_SIZE } from './constants.js';
import { encodeFrame } from './frame-encoder.js';
import { integer, own, record } from './validate.js';

/**
 * The per-round acknowledgement (PROTOCOL.md, "Round acknowledgements"; capability `round-ack-v1`). Once every
 * data channel has applied its whole share of a pre-copy round, the destination says so on the control
 * connection. The source then bounds its lead over the destination (it begins round n + 2 only once round n is
 * acknowledged), and learns from `applyUs` what a page costs the destination, which the last round pays with the
 * guest parked.
 */

/**
 * dest -> source, control connection. `round`: the round every channel has applied in full (acknowledgements
 * come one per round, in order). `pages`: that round's pages over every channel. `applyUs`: the slowest
 * channel's time applying its share (decoding its batches into guest memory, the CRCs taken), in microseconds.
 */
export interface RoundAckMessage { round: number; pages: number; applyUs: number }

const MAX_ROUND = 0xffffffff;
const MAX_PAGES = MAX_MEMORY_BYTES / PAGE_SIZE;
/** About 71 minutes: far past any idle timeout, so a larger value can only be a broken peer. */
const MAX_APPLY_US = 0xffffffff;

export function validateRoundAck(value: unknown): RoundAckMessage {
  const o = record(value, 'message');
  return {
    round: integer(own(o, 'round'), 'round', 1, MAX_ROUND),
    pages: integer(own(o, 'pages'), 'pages', 0, MAX_PAGES),
    applyUs: integer(own(o, 'applyUs'), 'applyUs', 0, MAX_APPLY_US),
  };
}

/** Checked with the decoder's rules, so a peer never sees what it would reject. */
export const encodeRoundAck = (m: RoundAckMessage): Buffer => encodeFrame(FrameType.RoundAck, msgpack.encode(validateRoundAck(m)));
