import { bitmapWords, countSetBits, popcount32, setBits, writeSetBits } from './bitmap.js';
import { DEFAULT_SLOT_BYTES, MAX_PAGE_COUNT, MAX_SLOT_BYTES, PAGE_SHIFT, PAGE_SIZE } from './constants.js';
import { GuestError, GuestErrorCode } from './errors.js';

/** What a worker (or another GuestMemory in this process) needs to see the same memory. */
export interface SharedMemoryHandles {
  memoryBytes: number;
  slotBytes: number;
  slots: SharedArrayBuffer[];
  dirty: SharedArrayBuffer;
  /** The touched map, shared so that the destination's channel workers can mark the pages they receive. */
  touched?: SharedArrayBuffer;
  /** The accessed bitmap the vCPUs mark on reads and writes (working-set prediction); absent: a fresh one. */
  accessed?: SharedArrayBuffer;
}

/**
 * Gives a zero-filled SharedArrayBuffer of exactly `bytes` for one slot: a fresh one, or one whose pages were
 * faulted in beforehand (a destination's pre-faulted memory). It must be all zero: never-written pages are
 * known zero and never sent.
 */
export type SlotAllocator = (bytes: number) => SharedArrayBuffer;

/** SharedArrayBuffers are zero-filled lazily by the OS, so a sparse 6 GiB guest costs little. */
function freshSlot(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes);
}

function badGeometry(message: string): GuestError {
  return new GuestError(GuestErrorCode.BAD_GEOMETRY, message);
}

function checkGeometry(memoryBytes: number, slotBytes: number): void {
  if (!Number.isSafeInteger(slotBytes) || slotBytes <= 0 || slotBytes % PAGE_SIZE !== 0) {
    throw badGeometry(`slot size ${slotBytes} is not a positive multiple of ${PAGE_SIZE}`);
  }
  if (slotBytes > MAX_SLOT_BYTES) {
    throw badGeometry(`slot size ${slotBytes} exceeds the ${MAX_SLOT_BYTES}-byte typed-array limit`);
  }
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes <= 0 || memoryBytes % PAGE_SIZE !== 0) {
    throw badGeometry(`memory size ${memoryBytes} is not a positive multiple of ${PAGE_SIZE}`);
  }
  if (memoryBytes / PAGE_SIZE > MAX_PAGE_COUNT) {
    throw badGeometry(`memory size ${memoryBytes} has more than ${MAX_PAGE_COUNT} pages`);
  }
}

/**
 * Guest memory: 4 KiB pages in SharedArrayBuffer slots, a shared dirty log and a private touched map.
 *
 * Dirty log protocol (write, then mark): a writer stores into a page and only then sets the page's bit
 * with `Atomics.or` (release); the harvester takes a whole word with `Atomics.exchange(word, 0)` (acquire)
 * before reading any of its pages. A write that races a read re-dirties the page, so it is sent again;
 * marking before writing would let the harvester read the old bytes and lose the update.
 *
 * The dirty log is on from boot, so before the first harvest it holds every page written since boot.
 * The touched map records every page ever harvested (or received): pages outside it and outside the
 * dirty log were never written and are known zero without being read.
 */
export class GuestMemory {
  readonly memoryBytes: number;
  readonly slotBytes: number;
  readonly pageCount: number;
  readonly pagesPerSlot: number;
  readonly slots: readonly Uint8Array[];
  readonly #slotBuffers: SharedArrayBuffer[];
  readonly #dirtyBuffer: SharedArrayBuffer;
  readonly #dirty: Int32Array;
  readonly #touchedBuffer: SharedArrayBuffer;
  readonly #touched: Int32Array;
  readonly #accessedBuffer: SharedArrayBuffer;
  /** One bit per page, set by the vCPUs on reads and writes (AccessMarker), taken by harvestAccessed. */
  readonly accessedBitmap: Int32Array;
  #afterHarvest: (() => void) | undefined;

  private constructor(handles: SharedMemoryHandles) {
    this.memoryBytes = handles.memoryBytes;
    this.slotBytes = handles.slotBytes;
    this.pageCount = handles.memoryBytes / PAGE_SIZE;
    this.pagesPerSlot = handles.slotBytes / PAGE_SIZE;
    this.#slotBuffers = [...handles.slots];
    this.slots = Object.freeze(this.#slotBuffers.map((sab) => new Uint8Array(sab)));
    this.#dirtyBuffer = handles.dirty;
    this.#dirty = new Int32Array(handles.dirty);
    this.#touchedBuffer = handles.touched ?? new SharedArrayBuffer(bitmapWords(this.pageCount) * 4);
    this.#touched = new Int32Array(this.#touchedBuffer);
    this.#accessedBuffer = handles.accessed ?? new SharedArrayBuffer(handles.dirty.byteLength);
    this.accessedBitmap = new Int32Array(this.#accessedBuffer);
  }

  /** @throws GuestError LM_ERR_BAD_GEOMETRY unless both sizes are positive multiples of PAGE_SIZE within limits. */
  static create(memoryBytes: number, slotBytes: number = DEFAULT_SLOT_BYTES, allocateSlot: SlotAllocator = freshSlot): GuestMemory {
    checkGeometry(memoryBytes, slotBytes);
    const slots: SharedArrayBuffer[] = [];
    try {
      for (let offset = 0; offset < memoryBytes; offset += slotBytes) {
        slots.push(allocateSlot(Math.min(slotBytes, memoryBytes - offset)));
      }
    } catch (cause) {
      throw new GuestError(GuestErrorCode.BAD_GEOMETRY, `cannot allocate ${memoryBytes} bytes of guest memory`, {
        cause,
      });
    }
    const dirty = new SharedArrayBuffer(bitmapWords(memoryBytes / PAGE_SIZE) * 4);
    const touched = new SharedArrayBuffer(bitmapWords(memoryBytes / PAGE_SIZE) * 4);
    const accessed = new SharedArrayBuffer(bitmapWords(memoryBytes / PAGE_SIZE) * 4);
    return new GuestMemory({ memoryBytes, slotBytes, slots, dirty, touched, accessed });
  }

  /** Views the same shared memory (used inside vCPU and channel workers), touched map included. */
  static attach(handles: SharedMemoryHandles): GuestMemory {
    const { memoryBytes, slotBytes, slots, dirty } = handles;
    checkGeometry(memoryBytes, slotBytes);
    const slotCount = Math.ceil(memoryBytes / slotBytes);
    if (!Array.isArray(slots) || slots.length !== slotCount) {
      throw badGeometry(`expected ${slotCount} slots, got ${Array.isArray(slots) ? slots.length : 'none'}`);
    }
    slots.forEach((sab, i) => {
      const expected = Math.min(slotBytes, memoryBytes - i * slotBytes);
      if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== expected) {
        throw badGeometry(`slot ${i} is not a ${expected}-byte SharedArrayBuffer`);
      }
    });
    if (!(dirty instanceof SharedArrayBuffer) || dirty.byteLength !== bitmapWords(memoryBytes / PAGE_SIZE) * 4) {
      throw badGeometry('dirty log has the wrong size');
    }
    const { touched } = handles;
    if (touched !== undefined && (!(touched instanceof SharedArrayBuffer) || touched.byteLength !== dirty.byteLength)) {
      throw badGeometry('touched map has the wrong size');
    }
    const { accessed } = handles;
    if (accessed !== undefined && (!(accessed instanceof SharedArrayBuffer) || accessed.byteLength !== dirty.byteLength)) {
      throw badGeometry('accessed bitmap has the wrong size');
    }
    return new GuestMemory(handles);
  }

  handles(): SharedMemoryHandles {
    return {
      memoryBytes: this.memoryBytes,
      slotBytes: this.slotBytes,
      slots: [...this.#slotBuffers],
      dirty: this.#dirtyBuffer,
      touched: this.#touchedBuffer,
      accessed: this.#accessedBuffer,
    };
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pageCount) {
      throw new RangeError(`page index ${index} outside 0..${this.pageCount - 1}`);
    }
  }

  /** A writable 4096-byte view of page `index` inside its slot (shared: it sees concurrent vCPU writes). */
  page(index: number): Uint8Array {
    this.#check(index);
    const slot = this.slots[Math.floor(index / this.pagesPerSlot)] as Uint8Array;
    const offset = (index % this.pagesPerSlot) << PAGE_SHIFT;
    return slot.subarray(offset, offset + PAGE_SIZE);
  }

  /** Marks page `index` dirty (Atomics.or: release). Call AFTER writing the page, once per page per operation. */
  markDirty(index: number): void {
    this.#check(index);
    Atomics.or(this.#dirty, index >>> 5, 1 << (index & 31));
  }

  /**
   * Takes and clears the dirty log, one `Atomics.exchange` per non-empty 32-page word (acquire), and ORs
   * what it took into the touched map. Read the returned pages only after this call returns.
   * @returns ascending page indices
   */
  harvestDirty(): Uint32Array {
    const dirty = this.#dirty;
    const taken: number[] = [];
    let count = 0;
    for (let w = 0; w < dirty.length; w++) {
      if (Atomics.load(dirty, w) === 0) continue;
      const bits = Atomics.exchange(dirty, w, 0);
      if (bits === 0) continue;
      taken.push(w, bits);
      count += popcount32(bits);
      Atomics.or(this.#touched, w, bits);
    }
    const out = new Uint32Array(count);
    let end = 0;
    for (let i = 0; i < taken.length; i += 2) {
      end = writeSetBits(taken[i] as number, taken[i + 1] as number, out, end);
    }
    this.#afterHarvest?.();
    return out;
  }

  /**
   * Runs `barrier` in every harvest, after the log is taken and before the call returns (so before the pages
   * are read): the Guest running on this memory brings its vCPUs to a new dirty-log epoch there (see
   * DirtyMarker). One guest at a time; undefined removes it.
   */
  setHarvestBarrier(barrier: (() => void) | undefined): void {
    this.#afterHarvest = barrier;
  }

  /**
   * Takes and clears the accessed bitmap, one `Atomics.exchange` per non-empty word: the pages the vCPUs read
   * or wrote since the last call (a hint for the working-set prediction, never for what to send).
   * @returns ascending page indices
   */
  harvestAccessed(): Uint32Array {
    const words = this.accessedBitmap;
    const taken = new Int32Array(words.length);
    for (let w = 0; w < words.length; w++) {
      if (Atomics.load(words, w) !== 0) taken[w] = Atomics.exchange(words, w, 0);
    }
    return setBits(taken);
  }

  /** Pages currently dirty, without clearing the log; with `except`, not counting the pages it accepts. */
  dirtyCount(except?: (page: number) => boolean): number {
    let count = 0;
    for (let w = 0; w < this.#dirty.length; w++) {
      const bits = Atomics.load(this.#dirty, w);
      if (bits === 0) continue;
      if (!except) {
        count += popcount32(bits);
        continue;
      }
      for (let b = 0; b < 32; b++) if ((bits >>> b) & 1 && !except(w * 32 + b)) count++;
    }
    return count;
  }

  markTouched(index: number): void {
    this.#check(index);
    Atomics.or(this.#touched, index >>> 5, 1 << (index & 31));
  }

  isTouched(index: number): boolean {
    this.#check(index);
    return (((this.#touched[index >>> 5] ?? 0) >>> (index & 31)) & 1) === 1;
  }

  /** Ascending indices of the pages in the touched map. */
  touchedPages(): Uint32Array {
    return setBits(this.#touched);
  }

  touchedCount(): number {
    return countSetBits(this.#touched);
  }

  /**
   * Ascending indices of every page that may be non-zero: touched, or dirty and not yet harvested.
   * Leaves the dirty log as it is (the migration engine owns harvesting). Pages outside are known zero.
   */
  writtenPages(): Uint32Array {
    const words = new Int32Array(this.#touched.length);
    for (let w = 0; w < words.length; w++) {
      words[w] = (this.#touched[w] ?? 0) | Atomics.load(this.#dirty, w);
    }
    return setBits(words);
  }
}
