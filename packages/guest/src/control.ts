/**
 * Control block shared between a Guest and its vCPU workers (Int32Array):
 *   word 0      command, written by the Guest: RUN | PARK | STOP
 *   word 1 + i  state of vCPU i, written by its worker: STARTING -> RUNNING <-> PARKED, then FINISHED or STOPPED
 *
 * Handshake (Atomics are sequentially consistent): a worker stores its state, then loads the command before
 * every op; the Guest stores the command, then loads the states. So once the Guest sees PARKED after storing
 * PARK, that worker's next load sees PARK and it performs no op until the command changes.
 */
export const Command = { RUN: 0, PARK: 1, STOP: 2 } as const;
export const VcpuState = { STARTING: 0, RUNNING: 1, PARKED: 2, FINISHED: 3, STOPPED: 4 } as const;

export const COMMAND_WORD = 0;

export function stateWord(vcpu: number): number {
  return 1 + vcpu;
}

export function controlBytes(vcpus: number): number {
  return (1 + vcpus) * 4;
}

/** Parked, finished or stopped: the register file is complete and no op is in flight. */
export function atSafePoint(state: number): boolean {
  return state === VcpuState.PARKED || state === VcpuState.FINISHED || state === VcpuState.STOPPED;
}
