import { PAGE_SIZE } from '@livemig/protocol';

/**
 * The copies of pages as last sent, for delta encoding (QEMU's XBZRLE cache): bounded by a byte budget,
 * evicting in insertion order (a ring) when full. Invariant: an entry holds exactly the bytes the
 * destination applied for that page, so a delta against it applies to the destination's copy.
 */
export class DeltaCache {
  private readonly capacity: number;
  /**
   * Allocated by the first put: allocating the budget costs milliseconds (the garbage collections its external
   * memory sets off), and round 1 and stop-and-copy never fill the cache, so a migration whose only rounds
   * they are never pays for it. Zero-filled lazily by the OS: an unused budget costs no memory.
   */
  private slots: { store: Uint8Array; owner: Int32Array } | undefined;
  private readonly slotOf = new Map<number, number>();
  private next = 0;
  hits = 0;

  constructor(bytes: number) {
    this.capacity = Math.floor(bytes / PAGE_SIZE);
  }

  get enabled(): boolean {
    return this.capacity > 0;
  }

  has(page: number): boolean {
    return this.slotOf.has(page);
  }

  /** The last-sent copy of `page`, or undefined (a view into the cache: valid until the next put). */
  get(page: number): Uint8Array | undefined {
    const slot = this.slotOf.get(page);
    if (slot === undefined) return undefined;
    this.hits += 1;
    // slotOf has entries only once put() has made the slots.
    return this.slots!.store.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
  }

  /** Forgets `page`'s copy: it was sent some other way, so the copy is no longer what the destination holds. */
  drop(page: number): void {
    const slot = this.slotOf.get(page);
    if (slot === undefined) return;
    this.slotOf.delete(page);
    this.slots!.owner[slot] = -1;
  }

  /** Records `content` as what was sent for `page`. */
  put(page: number, content: Uint8Array): void {
    if (this.capacity === 0) return;
    this.slots ??= { store: new Uint8Array(this.capacity * PAGE_SIZE), owner: new Int32Array(this.capacity).fill(-1) };
    const { store, owner } = this.slots;
    let slot = this.slotOf.get(page);
    if (slot === undefined) {
      slot = this.next;
      this.next = (this.next + 1) % this.capacity;
      const evicted = owner[slot]!;
      if (evicted >= 0) this.slotOf.delete(evicted);
      owner[slot] = page;
      this.slotOf.set(page, slot);
    }
    store.set(content, slot * PAGE_SIZE);
  }
}
