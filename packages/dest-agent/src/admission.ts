import type { IncomingRecord } from './incoming/incoming-record.js';

/**
 * What a stranger may cost this agent before it is authenticated, and what any source may claim at once. Every
 * limit holds before the cost is paid: a connection over the cap is closed unread, a Hello over a budget is
 * refused before anything is reserved or spawned for it.
 */
export interface AdmissionLimits {
  /** Connections on the main port that have not yet authenticated and sent their first frame (default 32). */
  maxPendingConnections?: number;
  /** How long such a connection may take to finish its TLS handshake (default 10 s). */
  preAuthTimeoutMs?: number;
  /** Incoming migrations in flight at once; a Hello beyond them is refused with LM_ERR_REFUSED (default 4). */
  maxIncoming?: number;
  /** Ended incoming migrations whose reports are kept (oldest dropped first; default 100). */
  maxEndedRecords?: number;
}

export const DEFAULT_MAX_PENDING_CONNECTIONS = 32;
export const DEFAULT_PRE_AUTH_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_INCOMING = 4;
export const DEFAULT_MAX_ENDED_RECORDS = 100;

/**
 * Drops the oldest ended records beyond `keep` (those in flight or parked are never dropped). An ended record
 * holds only its report and Hello: its connection and channels were let go when it ended.
 */
export function pruneEndedRecords(records: Map<string, IncomingRecord>, keep: number): void {
  const ended = [...records.values()].filter((record) => record.ended);
  for (const record of ended.slice(0, Math.max(0, ended.length - keep))) records.delete(record.report.id);
}
