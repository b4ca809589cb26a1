import type { Worker } from 'node:worker_threads';
import { ThreadPool } from '@livemig/agent-runtime';
import { VCPU_WORKER_URL } from '@livemig/guest';

/**
 * Idle vCPU workers for the next guest to start here (Guest.start({ workers })), on the same ThreadPool as
 * the receiver workers. The pool is the agent's, not the guest's: when to spawn threads (ahead of a migration,
 * refilled when quiet) is an agent's decision, and the guest only defines how a vCPU worker spawned ahead
 * waits (VCPU_WORKER_URL without workerData greets, then waits for its vCPU). Guest.start takes bare workers
 * and watches them itself from the moment it is given them.
 */
export class VcpuPool {
  readonly #pool: ThreadPool;

  constructor(size: number) {
    this.#pool = new ThreadPool(VCPU_WORKER_URL, size);
  }

  /** Up to `count` ready vCPU workers from the pool; never waits for new ones (the guest spawns the rest). */
  async take(count: number): Promise<Worker[]> {
    const taken = await this.#pool.take(count);
    // The caller hands them to Guest.start, which listens to each at once: no thread event can arrive before
    // that continuation runs (a microtask). A thread that failed while pooled is not among them.
    return taken.map((thread) => (thread.adopt(), thread.worker));
  }

  /** Tops the pool up to its size again. */
  refill(): void {
    this.#pool.refill();
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
