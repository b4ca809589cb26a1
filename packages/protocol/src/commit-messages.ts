import { randomBytes } from 'node:crypto';
import { COMMIT_NONCE_BYTES, COMMIT_PROOF_CHARS, MAX_MIGRATION_ID_CHARS, MAX_SHORT_STRING_CHARS, MAX_TEXT_CHARS } from './constants.js';
import { fail, lowerHex, own, record, string } from './validate.js';

/**
 * The messages of the commit protocol (PROTOCOL.md, "Commit"): the fields it adds to Hello, Complete and
 * Committed, and the frames only it uses: Confirm on the control connection, OutcomeQuery and Outcome on an
 * outcome connection.
 */

/** The source's acknowledgement of a Committed whose proof it checked: the destination may start the vCPUs. */
export interface ConfirmMessage { migrationId: string }

/** First frame of an outcome connection. A `token` key is refused, as in Hello (refuseObsoleteToken). */
export interface OutcomeQueryMessage { migrationId: string }

/**
 * `committed`: this destination committed the id in its current run; the source must not resume (and sends
 * Confirm if it has not). `aborted`: this destination does not hold the guest and will never run it (it
 * aborted, or never saw the id); the source resumes, unless it has sent Confirm. `discarded`: this destination
 * committed the id, but its operator (or the source's Abort) dropped the parked guest before it ever ran, and the
 * drop is journaled: its copy is gone for good, so the source resumes, even after Confirm. `unknown`: it cannot
 * vouch either way (the commit was journaled by an earlier run of the destination, or its journal cannot be
 * written); the source stays parked.
 */
export type MigrationOutcome = 'committed' | 'aborted' | 'discarded' | 'unknown';
export const MIGRATION_OUTCOMES: readonly MigrationOutcome[] = Object.freeze(['committed', 'aborted', 'discarded', 'unknown']);

/** `reason`: free text for the source's report (why `unknown`, what was aborted), <= 4096 chars. */
export interface OutcomeMessage { migrationId: string; outcome: MigrationOutcome; reason?: string }

const MIGRATION_ID = /^[A-Za-z0-9._:-]+$/;

/** A migration id: 1..64 characters of `A-Z a-z 0-9 . _ : -`, so that it is safe in logs, paths and journals. */
export function migrationId(value: unknown, field: string): string {
  const id = string(value, field, 1, MAX_MIGRATION_ID_CHARS);
  if (!MIGRATION_ID.test(id)) fail(field, 'expected only A-Z a-z 0-9 . _ : -');
  return id;
}

/** Whether `value` is a migration id the wire accepts (for ids that do not come from a decoder). */
export function isMigrationId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_MIGRATION_ID_CHARS && MIGRATION_ID.test(value);
}

/** Complete.nonce: exactly 32 lowercase hex characters (16 bytes). */
export function commitNonce(value: unknown, field: string): string {
  const nonce = lowerHex(value, field, COMMIT_NONCE_BYTES * 2);
  if (nonce.length !== COMMIT_NONCE_BYTES * 2) fail(field, `${nonce.length} hex characters, expected ${COMMIT_NONCE_BYTES * 2}`);
  return nonce;
}

/** Committed.proof: exactly 64 lowercase hex characters (a SHA-256). */
export function commitProof(value: unknown, field: string): string {
  const proof = lowerHex(value, field, COMMIT_PROOF_CHARS);
  if (proof.length !== COMMIT_PROOF_CHARS) fail(field, `${proof.length} hex characters, expected ${COMMIT_PROOF_CHARS}`);
  return proof;
}

/** A fresh nonce for Complete: 16 bytes from the system's CSPRNG, as lowercase hex. */
export function newCommitNonce(): string {
  return randomBytes(COMMIT_NONCE_BYTES).toString('hex');
}

const given = (value: unknown): boolean => value !== undefined && value !== null;

export function validateConfirm(value: unknown): ConfirmMessage {
  return { migrationId: migrationId(own(record(value, 'message'), 'migrationId'), 'migrationId') };
}

/**
 * Hello and OutcomeQuery once had a `token` the destination compared: a shared secret in clear. Authentication
 * is TLS's now, and the field is gone. Unknown keys are otherwise ignored, but not this one: a peer that sends
 * it believes the token authenticates it, over a connection that is then plaintext (a TLS destination never
 * reads its frames). Refusing tells its operator, instead of serving a migration they think is guarded.
 * @throws BadMessageError when `o` has a `token` that is not nil
 */
export function refuseObsoleteToken(o: Record<string, unknown>): void {
  if (given(own(o, 'token'))) fail('token', 'obsolete: this agent authenticates with TLS only (--tls-psk-file, --tls-cert, or --token for a TLS pre-shared key), never a token in a message');
}

export function validateOutcomeQuery(value: unknown): OutcomeQueryMessage {
  const o = record(value, 'message');
  refuseObsoleteToken(o);
  return { migrationId: migrationId(own(o, 'migrationId'), 'migrationId') };
}

export function validateOutcome(value: unknown): OutcomeMessage {
  const o = record(value, 'message');
  const id = migrationId(own(o, 'migrationId'), 'migrationId');
  const outcome = string(own(o, 'outcome'), 'outcome', 1, MAX_SHORT_STRING_CHARS);
  if (!(MIGRATION_OUTCOMES as readonly string[]).includes(outcome)) {
    fail('outcome', `'${outcome}' is not one of ${MIGRATION_OUTCOMES.join(', ')}`);
  }
  const answer: OutcomeMessage = { migrationId: id, outcome: outcome as MigrationOutcome };
  const reason = own(o, 'reason');
  if (given(reason)) answer.reason = string(reason, 'reason', 0, MAX_TEXT_CHARS);
  return answer;
}
