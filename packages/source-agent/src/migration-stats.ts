import type { PolicyName } from './switchover/index.js';
import type { PagesByEncoding } from './report.js';

/**
 * Where an outgoing migration is. Cancel is possible up to and including stop-and-copy; from `commit` on
 * the destination decides (Complete is out), so a cancel there is refused rather than risking two running
 * copies of the guest.
 */
export const MIGRATION_PHASES = [
  'handshake', // connecting, Hello out
  'reservation', // waiting for the destination to check and reserve (Accept or Refuse)
  'pre-copy', // iterative rounds while the guest runs (round 1 also opens the data channels)
  'stop-and-copy', // vCPUs parked: last dirty pages, CPU state
  'commit', // Complete sent: waiting for the destination to verify and commit
  'activation', // committed: waiting for the destination's vCPUs to start
  'completed',
  'failed',
  'cancelled',
] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

export function isFinalPhase(phase: MigrationPhase): boolean {
  return phase === 'completed' || phase === 'failed' || phase === 'cancelled';
}

export function isCancellable(phase: MigrationPhase): boolean {
  return phase === 'handshake' || phase === 'reservation' || phase === 'pre-copy' || phase === 'stop-and-copy';
}

/** What may be changed while a migration runs (QEMU's migrate-set-parameters). */
export interface MigrationParameters {
  policy: PolicyName;
  downtimeLimitMs: number;
  maxRounds: number;
  /** Infinity: no time bound. */
  maxTimeMs: number;
  /** Bytes per second on the wire over all channels; 0: unlimited. */
  maxBandwidthBytesPerSec: number;
  /** Throttle the vCPUs when they dirty pages faster than they are sent (QEMU's auto-converge). */
  autoConverge: boolean;
}

/** A live snapshot, like QEMU's query-migrate. Byte counts are cumulative; rates are over a short window. */
export interface MigrationStats {
  id: string;
  guestId: string;
  target: string;
  phase: MigrationPhase;
  /** Pre-copy rounds begun so far (QEMU's dirty-sync count); the stop-and-copy round counts too. */
  round: number;
  /** Bytes written to the destination, control and data connections. */
  transferredBytes: number;
  /** Guest-memory bytes still to send: the rest of this round plus pages dirtied since it was harvested. */
  remainingBytes: number;
  /** Guest memory size. */
  totalBytes: number;
  /** Guest-memory bytes covered by the pages sent so far (resent pages count again). */
  pagesTransferredBytes: number;
  pagesTransferred: number;
  /** Pages sent by encoding, as of the last finished round. */
  pagesByEncoding: PagesByEncoding;
  /** Pages the vCPUs dirtied per second during the last round. */
  dirtyPagesRate: number;
  /** Wire bytes per second over the last window. */
  bandwidthBytesPerSec: number;
  /** Guest pages per second over the last window. */
  pagesPerSecond: number;
  /** Downtime if the guest were stopped now: remaining bytes / bandwidth (null until measured). */
  expectedDowntimeMs: number | null;
  /** 0..100; never goes down while the migration runs, 100 once completed. */
  progressPercent: number;
  throttlePercent: number;
  setupTimeMs: number | null;
  elapsedMs: number;
  /** At the end: vCPU park at the source to vCPU start at the destination. */
  downtimeMs: number | null;
  /** At the end: vCPU park to the last byte of the stop-and-copy handed to the sockets (what QEMU reports). */
  sourceDowntimeMs: number | null;
  switchoverReason: string | null;
  parameters: MigrationParameters;
  error: { code: string; message: string } | null;
}
