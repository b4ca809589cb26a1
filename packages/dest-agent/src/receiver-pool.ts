import { Worker } from 'node:worker_threads';
import type { ReceiverEvent } from './channel-messages.js';

/**
 * Receiver workers spawned ahead of any migration. Starting a worker thread that loads the protocol costs
 * ~100 ms; a warm pool takes that out of the setup of the next migration. Workers taken are replaced by
 * refill(), which the agent calls when that migration has ended: spawning threads during a migration would
 * take CPU from it. A worker serves one channel of one migration, then exits.
 */
export class ReceiverPool {
  private readonly ready: Promise<Worker>[] = [];
  private closed = false;

  constructor(private readonly size: number) {
    this.refill();
  }

  /** `count` online workers: from the pool first, newly spawned for the rest. */
  async take(count: number): Promise<Worker[]> {
    const taken = this.ready.splice(0, count);
    while (taken.length < count) taken.push(spawnOnline());
    return Promise.all(taken);
  }

  async close(): Promise<void> {
    this.closed = true;
    const idle = this.ready.splice(0);
    await Promise.all(idle.map((worker) => worker.then((w) => w.terminate(), () => 0)));
  }

  /** Tops the pool up to its size again. */
  refill(): void {
    while (!this.closed && this.ready.length < this.size) {
      const worker = spawnOnline();
      worker.then(
        // An idle pool must not keep the process alive.
        (w) => w.unref(),
        () => {},
      );
      this.ready.push(worker);
    }
  }
}

function spawnOnline(): Promise<Worker> {
  const worker = new Worker(new URL('./channel-receiver-worker.js', import.meta.url));
  return new Promise((resolve, reject) => {
    worker.once('message', (event: ReceiverEvent) => {
      if (event.type === 'online') resolve(worker);
      else reject(new Error(`receiver worker sent ${event.type} before it was online`));
    });
    worker.once('error', reject);
  });
}
