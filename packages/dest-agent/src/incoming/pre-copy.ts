import { FrameType, UnexpectedFrameError, encodeRoundAck, frameTypeName, type CpuStateMessage } from '@livemig/protocol';
import { markStep, type FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';

/**
 * Phase 3 as the destination sees it: the pre-copy rounds arrive on the data channels, whose threads apply
 * every page straight into guest memory. With `round-ack-v1` agreed (`acknowledgeRounds`) each round that
 * every channel has applied in full is acknowledged on the control connection (RoundAck), which otherwise stays
 * silent. The source's first frame after Accept is its CPU state, sent once it has parked its vCPUs: that frame
 * ends pre-copy here, and the acknowledgements with it (the final round's may have gone out just before; the
 * source reads past it). A channel failure ends the wait at once, with that channel's error. (Post-copy would
 * branch here: the CPU state would come first and the guest would start before its pages.)
 * @throws UnexpectedFrameError for Complete (before the CPU state) or any other frame on the control
 *   connection; a channel's or the connection's error
 */
export async function receivePreCopy(conn: FramedSocket, channels: ChannelReceivers, acknowledgeRounds = false): Promise<CpuStateMessage> {
  if (acknowledgeRounds) {
    channels.onRoundApplied = ({ round, pages, applyMs }) => {
      // A failed connection fails the receive below with the same error.
      conn.send(encodeRoundAck({ round, pages, applyUs: Math.round(applyMs * 1000) })).catch(() => {});
    };
  }
  try {
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
  } finally {
    channels.onRoundApplied = undefined;
  }
}
