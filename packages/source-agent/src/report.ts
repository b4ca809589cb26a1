import { MigrationError } from '@livemig/protocol';

export type MigrationStatus = 'completed' | 'failed' | 'cancelled' | 'not-migrated';

export interface RoundReport {
  /** 1 = every page ever written; n = pages dirtied during round n-1; the last one is stop-and-copy. */
  round: number;
  final: boolean;
  pagesSent: number;
  bytesOnWire: number;
  ms: number;
  /** Pages the vCPUs dirtied while this round was being sent (what the next round has to send). */
  pagesDirtiedMeanwhile: number;
  /** Expected downtime if we stopped after this round: remaining dirty bytes / measured bandwidth. */
  expectedDowntimeMs: number;
}

export interface PagesByEncoding {
  zero: number;
  sameByte: number;
  lz4: number;
  raw: number;
}

export interface MigrationReport {
  status: MigrationStatus;
  error?: { code: string; message: string };
  guestId: string;
  target: string;
  startedAt: string;
  totalTimeMs: number;
  /** From vCPU park at the source to the destination's Activated (vCPUs started there). */
  downtimeMs: number | null;
  /** Handshake and reservation: connect to Accept. */
  setupTimeMs: number;
  switchoverReason: string | null;
  rounds: RoundReport[];
  pagesSent: PagesByEncoding;
  bytesOnWire: number;
  /** Bytes of guest memory the rounds covered (pages sent x 4096). */
  imageBytes: number;
  memoryBytes: number;
  /** Image digest (per-page CRC table + CPU state) the destination verified before committing. */
  sourceDigest: string | null;
  /** Operations the vCPUs had done when they were parked for stop-and-copy. */
  guestOpsAtPark: number | null;
}

export function errorSummary(error: unknown): { code: string; message: string } {
  if (error instanceof MigrationError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'LM_ERR_INTERNAL', message: error.message };
  }
  return { code: 'LM_ERR_INTERNAL', message: String(error) };
}
