/**
 * Control block shared between a Guest and its vCPU workers (Int32Array):
 *   word 0      command, written by the Guest: RUN | PARK | STOP
 *   word 1      throttle percent 0..MAX_THROTTLE_PERCENT, written by the Guest, read by every worker before
 *               every op (0 = unthrottled); timing only, never values
 *   word 2      dirty-log epoch, advanced by the Guest when the dirty log is harvested (see DirtyMarker)
 *   word 3 + i  state of vCPU i, written by its worker: STARTING -> RUNNING <-> PARKED, then FINISHED or STOPPED
 *   word 3 + n + i  the dirty-log epoch vCPU i has moved to (its acknowledgement), n = number of vCPUs
 *   word 3 + (2 + c) * n + i  throttle sleep counter c (ThrottleCounter) of vCPU i, written by its worker
 *
 * Handshake (Atomics are sequentially consistent): a worker stores its state, then loads the command before
 * every op; the Guest stores the command, then loads the states. So once the Guest sees PARKED after storing
 * PARK, that worker's next load sees PARK and it performs no op until the command changes.
 */
export const Command = { RUN: 0, PARK: 1, STOP: 2 } as const;
export const VcpuState = { STARTING: 0, RUNNING: 1, PARKED: 2, FINISHED: 3, STOPPED: 4 } as const;

export const COMMAND_WORD = 0;
export const THROTTLE_WORD = 1;
export const EPOCH_WORD = 2;
const HEADER_WORDS = 3;

export function stateWord(vcpu: number): number {
  return HEADER_WORDS + vcpu;
}

export function epochAckWord(vcpu: number, vcpus: number): number {
  return HEADER_WORDS + vcpus + vcpu;
}

/**
 * What a vCPU counts of its throttle sleeps (see Guest.throttleSleeps): the sleeps it began; the ones that
 * ended, by running out or otherwise; and of those, the ones cut short by a PARK, a STOP or a release of the
 * throttle while sleep was still owed on the vCPU's own clock. Timing only, never values.
 */
export const ThrottleCounter = { BEGUN: 0, ENDED: 1, CUT_SHORT: 2 } as const;
const THROTTLE_COUNTERS = 3;

export function throttleCounterWord(counter: number, vcpu: number, vcpus: number): number {
  return HEADER_WORDS + (2 + counter) * vcpus + vcpu;
}

/**
 * A cache line of padding on each side of the words: every vCPU reads the command and throttle words before
 * every op, so no often-written neighbouring allocation may share their line, whatever the buffer's alignment
 * (false sharing: unpadded, a flat-out guest's throughput depended on where the buffer happened to land).
 */
const CONTROL_PAD_BYTES = 64;

/** A fresh control block for `vcpus` vCPUs (all words 0: RUN, unthrottled, epoch 0, STARTING, no sleeps). */
export function createControl(vcpus: number): Int32Array {
  return controlView(new SharedArrayBuffer(2 * CONTROL_PAD_BYTES + (HEADER_WORDS + (2 + THROTTLE_COUNTERS) * vcpus) * 4));
}

/** The control words inside a buffer made by createControl (`view.buffer`), e.g. in a worker. */
export function controlView(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer, CONTROL_PAD_BYTES, (buffer.byteLength - 2 * CONTROL_PAD_BYTES) / 4);
}

/** Parked, finished or stopped: the register file is complete and no op is in flight. */
export function atSafePoint(state: number): boolean {
  return state === VcpuState.PARKED || state === VcpuState.FINISHED || state === VcpuState.STOPPED;
}
