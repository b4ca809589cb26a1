import { VCPU_WORKER_URL } from './guest.js';
import { WorkerPool } from './worker-pool.js';

/** Idle vCPU workers for the next guest to start here (Guest.start({ workers })). */
export class VcpuPool extends WorkerPool {
  constructor(size: number) {
    super(VCPU_WORKER_URL, size);
  }
}
