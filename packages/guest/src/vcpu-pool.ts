import { Worker } from 'node:worker_threads';
import { VCPU_WORKER_URL } from './guest.js';

/**
 * vCPU worker threads spawned ahead of need. A worker thread takes tens of milliseconds to start, and more
 * when the cores are busy with a migration; a destination keeps a few warm so that a guest arriving does not
 * wait for them. Taken workers are replaced by refill(), which the owner calls when it is quiet. Idle pooled
 * workers do not keep the process alive.
 */
export class VcpuPool {
  private readonly ready: Promise<Worker>[] = [];
  private closed = false;

  constructor(private readonly size: number) {
    this.refill();
  }

  /** Up to `count` online idle workers from the pool (never waits for new ones to be spawned). */
  async take(count: number): Promise<Worker[]> {
    const taken = await Promise.allSettled(this.ready.splice(0, count));
    return taken.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  /** Tops the pool up to its size again. */
  refill(): void {
    while (!this.closed && this.ready.length < this.size) {
      const worker = spawnIdle();
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

function spawnIdle(): Promise<Worker> {
  const worker = new Worker(VCPU_WORKER_URL);
  worker.unref();
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
  });
}
