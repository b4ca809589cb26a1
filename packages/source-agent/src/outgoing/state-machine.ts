import { activation } from './activation.js';
import { commit } from './commit.js';
import type { MigrationContext } from './context.js';
import { handshake } from './handshake.js';
import { outcomeQuery } from './outcome-query.js';
import type { ActivePhase } from './phases.js';
import { postCopy } from './post-copy.js';
import { preCopy } from './pre-copy.js';
import { reservation } from './reservation.js';
import { stopAndCopy } from './stop-and-copy.js';

/**
 * The phase each phase hands over to when it succeeds. A failure or a cancel leaves any phase by throwing
 * (outcome.ts decides what becomes of the guest), so only the way forward is written here. A new mode is a
 * new phase on the right of the phase it leaves: post-copy would make pre-copy's entry
 * `'stop-and-copy' | 'post-copy'`, chosen at the switchover decision (pre-copy.ts), and add its own row here
 * and its name to MIGRATION_PHASES (phases.ts); the compiler then asks for its step in STEPS.
 */
export interface NextPhase {
  handshake: 'reservation';
  reservation: 'pre-copy';
  'pre-copy': 'stop-and-copy' | 'post-copy';
  'post-copy': 'completed';
  'stop-and-copy': 'commit';
  commit: 'activation' | 'outcome-query';
  activation: 'completed' | 'outcome-query';
  'outcome-query': 'completed';
}

/** A phase's work: it enters its phase (ctx.enter) when that phase begins, and returns the next one. */
type PhaseStep<P extends ActivePhase> = (ctx: MigrationContext) => Promise<NextPhase[P]>;

const STEPS: { readonly [P in ActivePhase]: PhaseStep<P> } = {
  handshake,
  reservation,
  'pre-copy': preCopy,
  'stop-and-copy': stopAndCopy,
  'post-copy': postCopy,
  commit,
  activation,
  'outcome-query': outcomeQuery,
};

/**
 * Runs the phases from the handshake until the migration has completed.
 * @throws whatever ended it early: the phase's error, or the cancel's CancelledError
 */
export async function runPhases(ctx: MigrationContext): Promise<void> {
  let phase = 'handshake' as ActivePhase | 'completed';
  while (phase !== 'completed') phase = await STEPS[phase](ctx);
}
