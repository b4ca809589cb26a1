import type { SharedMemoryHandles } from '@livemig/guest';

export interface ReceiverWorkerData {
  memory: SharedMemoryHandles;
  checksums: SharedArrayBuffer;
  host: string;
  reservationId: string;
  channel: number;
  idleTimeoutMs: number;
}

/** Receiver worker -> main thread. */
export type ReceiverEvent =
  | { type: 'online' }
  | { type: 'listening'; port: number }
  | { type: 'round-end'; round: number; pages: number; bytes: number }
  | { type: 'error'; code: string; message: string };

/** Main thread -> receiver worker: workers wait in a warm pool until `listen` assigns them a channel. */
export type ReceiverCommand = { type: 'listen'; data: ReceiverWorkerData } | { type: 'close' };
