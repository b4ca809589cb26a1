import type { Worker } from 'node:worker_threads';
import { WorkerPool } from '@livemig/guest';
import type { ReceiverEvent, ReceiverSpawnData } from './channel-messages.js';

/** A pooled receiver worker and the port it listens on. */
export interface ListeningWorker {
  worker: Worker;
  port: number;
}

/**
 * Idle receiver workers for the data channels of the next incoming migration. Each listens on a port of its
 * own from the moment it is online, so a reservation hands out ports without waiting for any thread.
 */
export class ReceiverPool extends WorkerPool {
  constructor(size: number, spawnData: ReceiverSpawnData) {
    super(new URL('./channel-receiver-worker.js', import.meta.url), size, spawnData);
  }

  /** Exactly `count` listening workers: from the pool first, the rest spawned now, all at once. */
  async takeExactly(count: number): Promise<ListeningWorker[]> {
    const pooled = await this.take(count);
    const spawned = await Promise.all(Array.from({ length: count - pooled.length }, () => this.spawn()));
    return [...pooled, ...spawned].map((worker) => {
      const online = this.greeting(worker) as Extract<ReceiverEvent, { type: 'online' }>;
      return { worker, port: online.port };
    });
  }
}
