import {
  FrameType,
  OutcomeDecidedError,
  UnexpectedFrameError,
  encodeActivated,
  encodeOutcome,
  frameTypeName,
  type OutcomeQueryMessage,
} from '@livemig/protocol';
import { errorSummary, type FramedSocket, type Logger } from '@livemig/agent-runtime';
import type { CommitJournal } from '../commit-journal.js';
import type { ParkedGuests } from './parked-guests.js';

export interface OutcomeQueryOptions {
  journal: CommitJournal;
  parked: ParkedGuests;
  /** Migration ids whose Hello passed the handshake here and that have not ended. */
  inFlight: ReadonlySet<string>;
  log: Logger;
  /** How long the source may take to send Confirm after a `committed` answer. */
  confirmTimeoutMs: number;
}

/**
 * An outcome connection (PROTOCOL.md, "Commit", second diagram): its first frame was an OutcomeQuery. Answers
 * from the journal (rule 9); after `committed` it reads the source's Confirm, which activates the guest if it
 * is still parked here (Activated then goes out on this connection once its vCPUs run), or is answered with
 * Activated at once if it runs already. Never rejects.
 */
export async function serveOutcomeQuery(conn: FramedSocket, query: OutcomeQueryMessage, options: OutcomeQueryOptions): Promise<void> {
  const { journal, parked, log } = options;
  const { migrationId } = query;
  try {
    const answer = await journal.answerQuery(migrationId, options.inFlight.has(migrationId));
    log.info({ migrationId, outcome: answer.outcome, reason: answer.reason }, 'outcome query answered');
    await conn.send(encodeOutcome({ migrationId, outcome: answer.outcome, ...(answer.reason === undefined ? {} : { reason: answer.reason }) }));
    if (answer.outcome !== 'committed') {
      conn.close();
      return;
    }
    const frame = await conn.receive(options.confirmTimeoutMs, 'Confirm');
    if (frame.type !== FrameType.Confirm || frame.message.migrationId !== migrationId) {
      throw new UnexpectedFrameError(
        `expected Confirm for ${migrationId} on an outcome connection, got ${frameTypeName(frame.type)}`,
      );
    }
    const guest = parked.get(migrationId);
    if (guest?.decide({ action: 'activate', by: 'source', conn })) return; // the activation answers
    if (parked.wasActivated(migrationId)) {
      await conn.send(encodeActivated({ activatedAtMs: Date.now() }));
      conn.close();
      return;
    }
    throw new OutcomeDecidedError(`migration ${migrationId} was committed here, but its guest is no longer held: it was discarded`);
  } catch (error) {
    log.warn({ migrationId, err: errorSummary(error) }, 'outcome connection failed');
    conn.abort(error instanceof Error ? error : new Error(String(error)));
  }
}
