import { randomUUID } from 'node:crypto';

export interface Reservation {
  readonly id: string;
  readonly bytes: number;
  /** Threads it holds: the migration's data channels and the guest's vCPUs. */
  readonly threads: number;
  /** Gives the memory and threads back; idempotent. */
  release(): void;
}

/** Threads (data channels plus vCPUs) this agent runs for incoming guests at once, by default. */
export const DEFAULT_MAX_THREADS = 64;

/**
 * Guest memory and threads this agent has promised (Fesl et al.'s reservation phase): a guest is accepted only
 * if it fits in what `--max-memory` leaves after the guests already reserved, arriving or running here, and
 * its data channels and vCPUs in what `--max-threads` leaves. A Hello is a claim, so it is counted before any
 * thread is spawned for it: a stranger asking for 16 channels and 256 vCPUs of a tiny guest is refused.
 */
export class MemoryReservations {
  private reservedBytes = 0;
  private reservedThreads = 0;

  constructor(
    readonly limitBytes: number,
    readonly threadLimit = DEFAULT_MAX_THREADS,
  ) {}

  get freeBytes(): number {
    return this.limitBytes - this.reservedBytes;
  }

  get freeThreads(): number {
    return this.threadLimit - this.reservedThreads;
  }

  tryReserve(bytes: number, threads = 0): Reservation | undefined {
    if (bytes > this.freeBytes || threads > this.freeThreads) return undefined;
    this.reservedBytes += bytes;
    this.reservedThreads += threads;
    let released = false;
    return {
      id: randomUUID(),
      bytes,
      threads,
      release: () => {
        if (released) return;
        released = true;
        this.reservedBytes -= bytes;
        this.reservedThreads -= threads;
      },
    };
  }
}
