/**
 * Where an outgoing migration is. Cancel is possible up to and including stop-and-copy; from `commit` (or
 * `post-copy`) on the destination decides (Complete or PostcopyRun is out), so a cancel there is refused
 * rather than risking two running copies of the guest.
 */
export const MIGRATION_PHASES = [
  'handshake', // connecting, Hello out
  'reservation', // waiting for the destination to check and reserve (Accept or Refuse)
  'pre-copy', // iterative rounds while the guest runs (round 1 also opens the data channels)
  'stop-and-copy', // vCPUs parked: last dirty pages, CPU state (post-copy: the discard list and CPU state)
  'post-copy', // switched: the guest runs at the destination; serving its faults, pushing the rest; never resumed here
  'postcopy-paused', // a connection lost after the switch: parked here, waiting to reconnect (resume) or the operator's discard
  'commit', // Complete sent: waiting for the destination to verify and commit
  'activation', // committed: waiting for the destination's vCPUs to start
  'outcome-query', // the answer to Complete (or to Confirm) was lost: asking the destination, guest parked
  'completed',
  'failed',
  'cancelled',
  'outcome-unknown', // no answer until the bound: guest parked here until an operator resolves it
] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

/** The phases a migration ends in. */
export type FinalPhase = 'completed' | 'failed' | 'cancelled' | 'outcome-unknown';

/**
 * The phases a migration works through, each with its step in the state machine (state-machine.ts).
 * `postcopy-paused` is a state inside post-copy's step (post-copy.ts goes back and forth), not a step of its own.
 */
export type ActivePhase = Exclude<MigrationPhase, FinalPhase | 'postcopy-paused'>;

export function isFinalPhase(phase: MigrationPhase): boolean {
  return phase === 'completed' || phase === 'failed' || phase === 'cancelled' || phase === 'outcome-unknown';
}

export function isCancellable(phase: MigrationPhase): boolean {
  return phase === 'handshake' || phase === 'reservation' || phase === 'pre-copy' || phase === 'stop-and-copy';
}
