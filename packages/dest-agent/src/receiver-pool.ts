import type { Worker } from 'node:worker_threads';
import { WorkerPool } from '@livemig/guest';

/** Idle receiver workers for the data channels of the next incoming migration. */
export class ReceiverPool extends WorkerPool {
  constructor(size: number) {
    super(new URL('./channel-receiver-worker.js', import.meta.url), size);
  }

  /** Exactly `count` online workers: from the pool first, the rest spawned now, all at once. */
  async takeExactly(count: number): Promise<Worker[]> {
    const pooled = await this.take(count);
    const spawned = await Promise.all(Array.from({ length: count - pooled.length }, () => this.spawn()));
    return [...pooled, ...spawned];
  }
}
