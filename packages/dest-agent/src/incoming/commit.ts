import { DigestMismatchError, TimeoutError, encodeCommitted, type PageChecksums } from '@livemig/protocol';
import { errorSummary, markStep, type FramedSocket, type Logger } from '@livemig/agent-runtime';
import type { CommitJournal } from '../commit-journal.js';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { ReceivedState } from './receive.js';
import type { GuestMemory } from '@livemig/guest';
import { repairAtCommit } from './repair.js';

export interface CommitOptions {
  channels: ChannelReceivers;
  checksums: PageChecksums;
  /** How long the channels may take to apply the last round once Complete has arrived. */
  idleTimeoutMs: number;
  journal: CommitJournal;
  /** Hello's migration id: what the journal records the commit under. */
  migrationId: string;
  log: Logger;
  /** The source agreed to direct-pages-v2: a digest mismatch is repaired (repair.ts) before it fails. */
  repair?: { memory: GuestMemory };
}

/**
 * Commitment: waits until every channel has applied the last round Complete names, checks the rebuilt image's
 * digest against the source's, journals the commit (fsynced) and sends Committed with the proof. Resolves with
 * the digest verified and when Committed went out. Once the journal holds the commit the guest is committed here, even if Committed cannot
 * be sent: the source will ask (PROTOCOL.md, "Commit", rule 5). The guest stays parked until Confirm.
 * With `repair`, a digest that differs is first repaired (repair.ts).
 * @throws TimeoutError when the channels do not finish the last round in time; a channel's error;
 *   DigestMismatchError when the images differ; RepairFailedError when the repair gives up; OutcomeDecidedError when an outcome query recorded the id
 *   aborted first; JournalError when the commit cannot be journaled.
 */
export interface CommitResult {
  /** The image digest verified. */
  receivedDigest: string;
  /** The time the commit record took to reach the disk. */
  journalMs: number;
  /** performance.now() when Committed was handed to the socket (or failed to be). */
  committedAt: number;
  /** The repair step's passes and pages re-sent, when it ran. */
  repair?: { passes: number; pages: number };
}

export async function commit(conn: FramedSocket, received: ReceivedState, options: CommitOptions): Promise<CommitResult> {
  // Every channel must have applied the final round before the image can be checked.
  await withTimeout(options.channels.untilRound(received.complete.rounds), options.idleTimeoutMs, 'the last round on every data channel');
  markStep('D last round applied');
  let receivedDigest = options.checksums.digest(received.cpuState);
  markStep('D digest made');
  let repair: CommitResult['repair'];
  if (receivedDigest !== received.complete.digest && options.repair) {
    const repaired = await repairAtCommit(conn, received, { ...options.repair, checksums: options.checksums, answerTimeoutMs: options.idleTimeoutMs, log: options.log });
    receivedDigest = repaired.digest;
    repair = { passes: repaired.passes, pages: repaired.pages };
  }
  if (receivedDigest !== received.complete.digest) {
    throw new DigestMismatchError(`rebuilt image digest ${receivedDigest} differs from the source's ${received.complete.digest}`);
  }
  const proof = options.checksums.proof(received.complete.nonce, received.cpuState);
  // Commit point: durable before it is announced. From here only Confirm, Abort or the operator decide.
  markStep('D proof made');
  const journalStart = performance.now();
  await options.journal.recordCommitted(options.migrationId);
  const journalMs = performance.now() - journalStart;
  markStep('D commit journaled');
  try {
    await conn.send(encodeCommitted({ digest: receivedDigest, proof }));
  } catch (error) {
    options.log.warn({ migrationId: options.migrationId, err: errorSummary(error) }, 'committed, but Committed could not be sent: the source will ask');
  }
  return { receivedDigest, journalMs, committedAt: performance.now(), ...(repair ? { repair } : {}) };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
