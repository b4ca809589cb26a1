import type { PresentMapHandles, SharedMemoryHandles } from '@livemig/guest';
import type { TransportSecurity } from '@livemig/agent-runtime/transport';

/** What a receiver worker is spawned with (its `workerData`): the address its port listens on. */
export interface ReceiverSpawnData {
  host: string;
  /** The agent's credentials: a connection is authenticated before its first byte is read. */
  security: TransportSecurity;
}

export interface ReceiverWorkerData {
  memory: SharedMemoryHandles;
  checksums: SharedArrayBuffer;
  reservationId: string;
  channel: number;
  idleTimeoutMs: number;
  /** The source's address (its control connection's): connections from anywhere else are dropped at once. */
  sourceAddress: string;
  /**
   * The guest's present map, when post-copy was agreed: page batches outside a round are then the push of
   * post-copy, placed only if absent once the switch has happened.
   */
  present?: PresentMapHandles;
}

/** Receiver worker -> main thread. `online` (its greeting): code loaded and listening on `port`. */
export type ReceiverEvent =
  | { type: 'online'; port: number }
  /** `applyMs`: the round's time applying its batches into guest memory (its waits for bytes left out). */
  | { type: 'round-end'; round: number; pages: number; bytes: number; applyMs: number }
  /** The open round so far: sent at most every CHANNEL_PROGRESS_INTERVAL_MS while pages arrive. */
  | { type: 'progress'; round: number; pages: number; bytes: number }
  | { type: 'error'; code: string; message: string };

/** Main thread -> receiver worker: workers wait in a warm pool, listening, until `assign` gives them a channel. */
export type ReceiverCommand = { type: 'assign'; data: ReceiverWorkerData };
