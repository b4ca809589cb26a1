import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Worker threads spawned ahead of need. A worker thread that loads its code takes tens of milliseconds to
 * start, and more while the cores are busy with a migration, so agents keep a few warm. A pooled worker
 * announces itself with one message once its code is loaded (its greeting, kept here), then waits for its
 * assignment. Taken workers are replaced by refill(), which the owner calls when it is quiet: spawning threads
 * during a migration would take CPU from it. Idle pooled workers do not keep the process alive.
 */
export class WorkerPool {
  private readonly ready: Promise<Worker>[] = [];
  private readonly greetings = new WeakMap<Worker, unknown>();
  private closed = false;

  constructor(
    private readonly script: URL,
    private readonly size: number,
    /** Options for every worker this pool spawns (its `workerData`, its resource limits). */
    private readonly options: WorkerOptions = {},
  ) {
    this.refill();
  }

  /** Up to `count` online idle workers from the pool; never waits for new ones. */
  async take(count: number): Promise<Worker[]> {
    const taken = await Promise.allSettled(this.ready.splice(0, count));
    return taken.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  /** A new worker, resolved once its code is loaded. */
  spawn(): Promise<Worker> {
    const worker = new Worker(this.script, this.options);
    worker.unref();
    return new Promise((resolve, reject) => {
      worker.once('message', (greeting: unknown) => {
        this.greetings.set(worker, greeting);
        resolve(worker);
      });
      worker.once('error', reject);
    });
  }

  /** The first message `worker` (spawned by this pool) posted: its greeting. */
  greeting(worker: Worker): unknown {
    return this.greetings.get(worker);
  }

  /** Tops the pool up to its size again. */
  refill(): void {
    while (!this.closed && this.ready.length < this.size) {
      const worker = this.spawn();
      worker.catch(() => {});
      this.ready.push(worker);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const idle = await Promise.allSettled(this.ready.splice(0));
    await Promise.all(idle.map((result) => (result.status === 'fulfilled' ? result.value.terminate() : 0)));
  }
}
