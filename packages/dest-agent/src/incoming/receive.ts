import type { GuestGeometry } from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';
import { receivePreCopy } from './pre-copy.js';
import { receiveStopAndCopy, type ReceivedState } from './stop-and-copy.js';

export type { ReceivedState } from './stop-and-copy.js';

/**
 * Pre-copy, then stop-and-copy, as the destination sees them (pre-copy.ts, stop-and-copy.ts): resolves at
 * Complete with the CPU state the source sent. `acknowledgeRounds`: `round-ack-v1` was agreed.
 * @throws what either phase throws
 */
export async function receiveUntilComplete(
  conn: FramedSocket,
  channels: ChannelReceivers,
  geometry: GuestGeometry,
  pageCount: number,
  acknowledgeRounds = false,
): Promise<ReceivedState> {
  const first = await receivePreCopy(conn, channels, acknowledgeRounds);
  return receiveStopAndCopy(conn, channels, geometry, pageCount, first);
}
