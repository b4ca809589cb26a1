import type { WorkerOptions } from 'node:worker_threads';
import { spawnThreads, startThread, type ReadyThread } from './ready-thread.js';

/**
 * Threads of one script, spawned ahead of need and kept ready (see ReadyThread): the destination's data
 * channels and vCPUs. Taken threads are replaced by refill(), which the owner calls when it is quiet: spawning
 * threads during a migration would take CPU from it. Idle pooled threads do not keep the process alive; a
 * taken one does.
 *
 * A pooled thread that failed before it was taken (its error, or an exit) is dropped by take(), never handed
 * out: it was a spare, and its failure belongs to no migration. takeExactly() spawns its replacement, whose
 * own failure, if the cause persists, is the taker's.
 */
export class ThreadPool<Greeting = unknown> {
  readonly #idle: Promise<ReadyThread<Greeting>>[] = [];
  #closed = false;

  constructor(
    readonly script: URL,
    readonly size: number,
    /** Options for every thread this pool spawns (its `workerData`, its resource limits). */
    readonly options: WorkerOptions = {},
  ) {
    this.refill();
  }

  /** Up to `count` idle threads, each once it is ready (a pooled one may still be loading); never spawns. */
  async take(count: number): Promise<ReadyThread<Greeting>[]> {
    const settled = await Promise.allSettled(this.#idle.splice(0, count));
    const taken: ReadyThread<Greeting>[] = [];
    for (const result of settled) {
      if (result.status === 'rejected' || result.value.failure) continue;
      result.value.worker.ref();
      taken.push(result.value);
    }
    return taken;
  }

  /**
   * Exactly `count` ready threads: from the pool first, the rest spawned now, all at once.
   * @throws the first failure of a thread spawned now; the threads this call took are terminated then
   */
  async takeExactly(count: number): Promise<ReadyThread<Greeting>[]> {
    const pooled = await this.take(count);
    try {
      return [...pooled, ...(await spawnThreads<Greeting>(this.script, count - pooled.length, this.options))];
    } catch (error) {
      for (const { worker } of pooled) void worker.terminate();
      throw error;
    }
  }

  /** Tops the pool up to its size again. */
  refill(): void {
    while (!this.#closed && this.#idle.length < this.size) {
      const { worker, ready } = startThread<Greeting>(this.script, this.options);
      worker.unref();
      ready.catch(() => {}); // dropped when taken
      this.#idle.push(ready);
    }
  }

  /** Terminates the idle threads; refill() spawns no more. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = await Promise.allSettled(this.#idle.splice(0));
    await Promise.all(idle.map((result) => (result.status === 'fulfilled' ? result.value.worker.terminate() : 0)));
  }
}
