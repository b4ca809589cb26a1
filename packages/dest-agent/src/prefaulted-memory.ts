import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DEFAULT_SLOT_BYTES, type SlotAllocator } from '@livemig/guest';

/**
 * Guest memory faulted in ahead of time (`--prefault SIZE`), like QEMU's `-mem-prealloc` on an incoming guest.
 * The first write to a fresh page costs a page fault, and on these machines (VMs) that made filling fresh memory
 * 5-10x slower than filling touched memory (docs/PERFORMANCE.md, "First touch"); a destination fills fresh
 * guest memory on its critical path. Pre-faulting in a worker while the pages arrive did not help here (the two
 * threads fault in the same address space); pre-faulting before the migration does.
 *
 * The slots are laid out as a guest of SIZE with the default 1 GiB slots has them; an incoming guest takes
 * those whose size matches its own slots exactly, the rest of its slots are fresh. A slot is handed out once,
 * and comes back only through `recycle`: the memory of a guest that left this host, zeroed off the path, up to
 * SIZE in all (never new memory: a refill while a guest runs here would double this process's memory).
 */
export class PrefaultedMemory {
  readonly #slots: SharedArrayBuffer[] = [];
  readonly #limitBytes: number;
  /** Recycling workers still zeroing: close() ends them. */
  readonly #workers = new Set<Worker>();
  /** Bytes of slots taken back and still being zeroed in a worker. */
  #recyclingBytes = 0;
  /** Resolves when every slot is faulted in (at once when there are none). */
  readonly ready: Promise<void>;

  constructor(bytes: number) {
    this.#limitBytes = bytes;
    const sizes: number[] = [];
    for (let at = 0; at < bytes; at += DEFAULT_SLOT_BYTES) sizes.push(Math.min(DEFAULT_SLOT_BYTES, bytes - at));
    this.ready = sizes.length === 0 ? Promise.resolve() : this.#inWorker({ sizes }).then(() => undefined);
  }

  /** Bytes of pre-faulted slots not yet handed out. */
  get bytes(): number {
    return this.#slots.reduce((sum, slot) => sum + slot.byteLength, 0);
  }

  /** A pre-faulted zero slot of exactly `bytes` when one is left, else a fresh one. */
  readonly allocate: SlotAllocator = (bytes) => {
    const at = this.#slots.findIndex((slot) => slot.byteLength === bytes);
    if (at < 0) return new SharedArrayBuffer(bytes);
    return this.#slots.splice(at, 1)[0]!;
  };

  /**
   * Takes back the slots of a guest that has left this host (ended, or migrated onward: nothing reads or writes
   * them any more), as far as they fit under SIZE, zeroes them in a worker, and offers them to the next
   * guest, whose first writes then meet pages already faulted in ("First touch": about 7x cheaper here). Only
   * with `--prefault`: without it nothing is kept (an idle agent should not hold a departed guest's memory).
   * Resolves with the bytes it kept once they are back (0 at once when none fits, 0 when close() came first).
   */
  async recycle(slots: readonly SharedArrayBuffer[]): Promise<number> {
    // Slots still being zeroed count against SIZE too: two guests leaving together must not keep SIZE each.
    let room = this.#limitBytes - this.bytes - this.#recyclingBytes;
    const kept = slots.filter((slot) => {
      if (slot.byteLength > room) return false;
      room -= slot.byteLength;
      return true;
    });
    if (kept.length === 0) return 0;
    const keptBytes = kept.reduce((sum, slot) => sum + slot.byteLength, 0);
    this.#recyclingBytes += keptBytes;
    try {
      return await this.#inWorker({ slots: kept });
    } finally {
      this.#recyclingBytes -= keptBytes;
    }
  }

  /** Ends any recycling still under way (its slots are dropped). */
  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((worker) => worker.terminate()));
  }

  /** Runs prefault-worker.ts on `work` and adds the slots it posts back; resolves with their bytes. */
  async #inWorker(work: { sizes: number[] } | { slots: SharedArrayBuffer[] }): Promise<number> {
    const worker = new Worker(new URL('./prefault-worker.js', import.meta.url), { workerData: work });
    this.#workers.add(worker);
    try {
      // A worker ended by close() posts nothing: its slots are dropped.
      const posted = (await Promise.race([once(worker, 'message'), once(worker, 'exit').then(() => undefined)])) as [SharedArrayBuffer[]] | undefined;
      if (!posted) return 0;
      this.#slots.push(...posted[0]);
      return posted[0].reduce((sum, slot) => sum + slot.byteLength, 0);
    } finally {
      this.#workers.delete(worker);
      await worker.terminate();
    }
  }
}
