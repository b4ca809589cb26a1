import { FrameType, UnexpectedFrameError, frameTypeName, type CpuStateMessage } from '@livemig/protocol';
import { markStep, type FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';

/**
 * Phase 3 as the destination sees it: the pre-copy rounds arrive on the data channels, whose threads apply
 * every page straight into guest memory, while the control connection stays silent. The source's first frame
 * after Accept is its CPU state, sent once it has parked its vCPUs: that frame ends pre-copy here. A channel
 * failure ends the wait at once, with that channel's error. (Post-copy would branch here: the CPU state would
 * come first and the guest would start before its pages.)
 * @throws UnexpectedFrameError for Complete (before the CPU state) or any other frame on the control
 *   connection; a channel's or the connection's error
 */
export async function receivePreCopy(conn: FramedSocket, channels: ChannelReceivers): Promise<CpuStateMessage> {
  const frame = await Promise.race([conn.receive(undefined, 'CPU state or Complete'), channels.failed]);
  switch (frame.type) {
    case FrameType.CpuState:
      markStep('D CPU state read');
      return frame.message;
    case FrameType.Complete:
      throw new UnexpectedFrameError('Complete before the CPU state');
    default:
      throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the control connection`);
  }
}
