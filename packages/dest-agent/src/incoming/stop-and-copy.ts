import { BadMessageError, FrameType, UnexpectedFrameError, frameTypeName, type CompleteMessage, type CpuStateMessage, type GuestGeometry } from '@livemig/protocol';
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
 * Phase 4 as the destination sees it: the source has parked its vCPUs and sent their CPU state (`first`, read
 * by pre-copy); the final round arrives on the data channels, and Complete ends the phase on the control
 * connection. Each CPU state is checked against the guest's geometry before it is kept.
 * @throws BadMessageError for a CPU state that does not fit the geometry; UnexpectedFrameError for any frame
 *   but CPU state or Complete; a channel's or the connection's error
 */
export async function receiveStopAndCopy(
  conn: FramedSocket,
  channels: ChannelReceivers,
  geometry: GuestGeometry,
  pageCount: number,
  first: CpuStateMessage,
): Promise<ReceivedState> {
  let state = checkedCpuState(first, geometry, pageCount);
  for (;;) {
    const frame = await Promise.race([conn.receive(undefined, 'CPU state or Complete'), channels.failed]);
    switch (frame.type) {
      case FrameType.CpuState:
        state = checkedCpuState(frame.message, geometry, pageCount);
        break;
      case FrameType.Complete:
        return { ...state, complete: frame.message };
      default:
        throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the control connection`);
    }
  }
}

/** A CPU state message checked against the geometry. @throws BadMessageError */
export function checkedCpuState(message: CpuStateMessage, geometry: GuestGeometry, pageCount: number): Omit<ReceivedState, 'complete'> {
  try {
    validateCpuState(message.registers, geometry.vcpus, pageCount);
  } catch (error) {
    throw new BadMessageError(`CPU state rejected: ${(error as Error).message}`, { cause: error });
  }
  return { cpuState: message.registers, running: message.running };
}
