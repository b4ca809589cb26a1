import { BadMessageError, FrameType, UnexpectedFrameError, frameTypeName, type CompleteMessage, type GuestGeometry } from '@livemig/protocol';
import { validateCpuState, type CpuState } from '@livemig/guest';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';

/** What the control connection carried after Accept: the guest's CPU state, and Complete, which ends it. */
export interface ReceivedState {
  cpuState: CpuState;
  /** Whether the guest was running at the source; a paused guest stays paused here. */
  running: boolean;
  complete: CompleteMessage;
}

/**
 * Pre-copy and stop-and-copy as the destination sees them: the rounds arrive on the data
 * channels, whose threads apply every page straight into guest memory; the control connection carries only
 * the CPU state, sent once the source has parked its vCPUs, then Complete. Resolves at Complete. A channel
 * failure ends the wait at once, with that channel's error.
 * @throws UnexpectedFrameError for Complete before the CPU state and for any other frame on the control
 *   connection; BadMessageError for a CPU state that does not fit the geometry; a channel's or the
 *   connection's error.
 */
export async function receiveUntilComplete(
  conn: FramedSocket,
  channels: ChannelReceivers,
  geometry: GuestGeometry,
  pageCount: number,
): Promise<ReceivedState> {
  let cpuState: CpuState | undefined;
  let running = true;
  for (;;) {
    const frame = await Promise.race([conn.receive(undefined, 'CPU state or Complete'), channels.failed]);
    switch (frame.type) {
      case FrameType.CpuState:
        try {
          validateCpuState(frame.message.registers, geometry.vcpus, pageCount);
        } catch (error) {
          throw new BadMessageError(`CPU state rejected: ${(error as Error).message}`, { cause: error });
        }
        cpuState = frame.message.registers;
        running = frame.message.running;
        break;
      case FrameType.Complete:
        if (!cpuState) throw new UnexpectedFrameError('Complete before the CPU state');
        return { cpuState, running, complete: frame.message };
      default:
        throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the control connection`);
    }
  }
}
