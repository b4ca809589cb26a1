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
 * those whose size matches its own slots exactly, the rest of its slots are fresh. They are handed out once
 * (no refill: a refill while a guest runs here would double this process's memory).
 */
export class PrefaultedMemory {
  readonly #slots: SharedArrayBuffer[] = [];
  /** Resolves when every slot is faulted in (at once when there are none). */
  readonly ready: Promise<void>;

  constructor(bytes: number) {
    const sizes: number[] = [];
    for (let at = 0; at < bytes; at += DEFAULT_SLOT_BYTES) sizes.push(Math.min(DEFAULT_SLOT_BYTES, bytes - at));
    this.ready = sizes.length === 0 ? Promise.resolve() : this.#fault(sizes);
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

  async #fault(sizes: number[]): Promise<void> {
    const worker = new Worker(new URL('./prefault-worker.js', import.meta.url), { workerData: sizes });
    const [slots] = (await once(worker, 'message')) as [SharedArrayBuffer[]];
    this.#slots.push(...slots);
    await worker.terminate();
  }
}
