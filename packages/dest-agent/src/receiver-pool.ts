import { WorkerPool } from '@livemig/guest';

/** Idle receiver workers for the data channels of the next incoming migration. */
export class ReceiverPool extends WorkerPool {
  constructor(size: number) {
    super(new URL('./channel-receiver-worker.js', import.meta.url), size);
  }

  /** Exactly `count` online workers: from the pool first, newly spawned for the rest. */
  async takeExactly(count: number): Promise<ReceiverWorkers> {
    const workers = await this.take(count);
    while (workers.length < count) workers.push(await this.spawn());
    return workers;
  }
}

type ReceiverWorkers = Awaited<ReturnType<WorkerPool['take']>>;
