import { randomUUID } from 'node:crypto';

export interface Reservation {
  readonly id: string;
  readonly bytes: number;
  /** Gives the memory back; idempotent. */
  release(): void;
}

/**
 * Guest memory this agent has promised (Fesl et al.'s reservation phase): a guest is accepted only if it fits
 * in what `--max-memory` leaves after the guests already reserved, arriving or running here.
 */
export class MemoryReservations {
  private reservedBytes = 0;

  constructor(readonly limitBytes: number) {}

  get freeBytes(): number {
    return this.limitBytes - this.reservedBytes;
  }

  tryReserve(bytes: number): Reservation | undefined {
    if (bytes > this.freeBytes) return undefined;
    this.reservedBytes += bytes;
    let released = false;
    return {
      id: randomUUID(),
      bytes,
      release: () => {
        if (released) return;
        released = true;
        this.reservedBytes -= bytes;
      },
    };
  }
}
