import { bitmapWords, setBits } from './bitmap.js';
import { PAGE_SIZE } from './constants.js';
import { GuestError, GuestErrorCode } from './errors.js';
import type { GuestMemory } from './memory.js';

/**
 * The present map of post-copy: which pages a guest holds, shared by its vCPUs (the access barrier,
 * present-barrier.ts) and whoever places pages (the destination's receivers). It plays the parts of
 * userfaultfd's MISSING registration, QEMU's receivedmap and UFFDIO_COPY's "only if absent".
 *
 * - `present`: one bit per page, only ever set while post-copy runs (monotone), so a vCPU may cache a bit it
 *   saw set. Placement sets it with `Atomics.or` after the page's bytes are written (the release); a vCPU
 *   loads it atomically before it touches the page (the acquire).
 * - `claimed`: one bit per page. A placer owns a page only if its `Atomics.or` found the bit clear; every
 *   later copy (a background duplicate, a re-send) is dropped, so a late copy never overwrites a page the
 *   guest already wrote. At the switch it equals `present`.
 * - the header: barrier switched off (every page present), generation (bumped by startPostcopy, so a vCPU
 *   drops its cached bits), waiting vCPUs, the fault doorbell, the present count, whole-guest blocktime
 *   bookkeeping and the fault latency histogram; then one fault slot per vCPU.
 *
 * Lost wake-ups are impossible: a waiting vCPU increments `waiters` and then loads its present word before
 * it sleeps on that word with `Atomics.wait` (which compares atomically); a placer sets the bit and then loads
 * `waiters`. All Atomics are sequentially consistent, so either the placer sees the waiter (and notifies) or
 * the vCPU sees the bit.
 */
export interface PresentMapHandles {
  pageCount: number;
  vcpus: number;
  header: SharedArrayBuffer;
  times: SharedArrayBuffer;
  present: SharedArrayBuffer;
  claimed: SharedArrayBuffer;
}

/** Header words (Int32Array). */
export const PresentWord = {
  /** 1 once every page is present: vCPUs stop checking. */
  OFF: 0,
  GENERATION: 1,
  /** vCPUs waiting for a page now. */
  WAITERS: 2,
  /** Incremented by every new fault; the fault handler sleeps on it. */
  DOORBELL: 3,
  PRESENT_COUNT: 4,
  /** vCPUs blocked on a page now (for whole-guest blocktime: QEMU's smp_cpus_down). */
  DOWN: 5,
} as const;
const HEADER_WORDS = 16;
/** QEMU's BLOCKTIME_LATENCY_BUCKET_N: bucket b counts faults that took [2^b, 2^(b+1)) us, the last one more. */
export const LATENCY_BUCKETS = 24;
const LATENCY_WORD = HEADER_WORDS;
/** Per vCPU: page, fault count (the slot's sequence number), waiting flag, pad. */
const SLOT_WORDS = 4;
const SLOT_BASE = LATENCY_WORD + LATENCY_BUCKETS;
export const Slot = { PAGE: 0, SEQ: 1, WAITING: 2 } as const;

export function slotWord(vcpu: number, field: number): number {
  return SLOT_BASE + vcpu * SLOT_WORDS + field;
}

/** Float64 words: the start of the current all-down period, whole-guest blocktime, then per vCPU (fault t0, blocked total). All in us. */
export const TimeWord = { ALL_DOWN_SINCE: 0, GUEST_BLOCKED: 1 } as const;
export function faultStartWord(vcpu: number): number {
  return 2 + 2 * vcpu;
}
export function vcpuBlockedWord(vcpu: number): number {
  return 3 + 2 * vcpu;
}

/** A vCPU's current or last fault. */
export interface VcpuFault {
  vcpu: number;
  page: number;
  /** Faults this vCPU published so far; a new value means a new fault. */
  seq: number;
  waiting: boolean;
}

/** QEMU's blocktime statistics, times in microseconds. */
export interface PresentStats {
  faults: number;
  vcpuFaults: number[];
  vcpuBlockedUs: number[];
  /** Time every vCPU was blocked at once (QEMU's postcopy-blocktime, "overlapped"). */
  guestBlockedUs: number;
  latencyBuckets: number[];
}

export class PresentMap {
  readonly pageCount: number;
  readonly vcpus: number;
  readonly header: Int32Array;
  readonly times: Float64Array;
  readonly present: Int32Array;
  readonly claimed: Int32Array;
  readonly #handles: PresentMapHandles;

  private constructor(handles: PresentMapHandles) {
    this.#handles = handles;
    this.pageCount = handles.pageCount;
    this.vcpus = handles.vcpus;
    this.header = new Int32Array(handles.header);
    this.times = new Float64Array(handles.times);
    this.present = new Int32Array(handles.present);
    this.claimed = new Int32Array(handles.claimed);
  }

  /** Every page present and the barrier off: what a guest that never ran post-copy has. */
  static create(pageCount: number, vcpus: number): PresentMap {
    const words = bitmapWords(pageCount);
    const map = new PresentMap({
      pageCount,
      vcpus,
      header: new SharedArrayBuffer((SLOT_BASE + vcpus * SLOT_WORDS) * 4),
      times: new SharedArrayBuffer((2 + 2 * vcpus) * 8),
      present: new SharedArrayBuffer(words * 4),
      claimed: new SharedArrayBuffer(words * 4),
    });
    map.#fillAll();
    return map;
  }

  /** The same map in another thread. @throws GuestError LM_ERR_BAD_GEOMETRY on handles of the wrong shape */
  static attach(handles: PresentMapHandles): PresentMap {
    const words = bitmapWords(handles.pageCount);
    if (handles.present.byteLength !== words * 4 || handles.claimed.byteLength !== words * 4) {
      throw new GuestError(GuestErrorCode.BAD_GEOMETRY, 'present map does not match the page count');
    }
    return new PresentMap(handles);
  }

  handles(): PresentMapHandles {
    return this.#handles;
  }

  #fillAll(): void {
    this.present.fill(-1);
    const tail = this.pageCount & 31;
    if (tail !== 0) this.present[this.present.length - 1] = (1 << tail) - 1;
    this.claimed.set(this.present);
    Atomics.store(this.header, PresentWord.PRESENT_COUNT, this.pageCount);
    Atomics.store(this.header, PresentWord.OFF, 1);
  }

  /**
   * The switch to post-copy: `missing` pages become not present (the discard list), every other page stays
   * present, claims restart from the present map, and the barrier goes on if anything is missing. Call only
   * while no vCPU runs (parked or not started): they drop their cached bits when they next resume.
   * @throws RangeError on a page index outside the guest
   */
  startPostcopy(missing: Iterable<number>): void {
    this.#fillAll();
    let count = this.pageCount;
    for (const page of missing) {
      if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) {
        throw new RangeError(`page index ${page} outside 0..${this.pageCount - 1}`);
      }
      const w = page >>> 5;
      const bit = 1 << (page & 31);
      if ((this.present[w]! & bit) === 0) continue;
      this.present[w] = this.present[w]! & ~bit;
      count--;
    }
    this.claimed.set(this.present);
    Atomics.store(this.header, PresentWord.PRESENT_COUNT, count);
    Atomics.store(this.header, PresentWord.OFF, count === this.pageCount ? 1 : 0);
    Atomics.add(this.header, PresentWord.GENERATION, 1);
    Atomics.notify(this.header, PresentWord.GENERATION);
  }

  /** Resolves once startPostcopy has run here or in another thread; never blocks the thread. */
  async untilSwitched(): Promise<void> {
    for (;;) {
      const generation = Atomics.load(this.header, PresentWord.GENERATION);
      if (generation > 0) return;
      const waited = Atomics.waitAsync(this.header, PresentWord.GENERATION, generation, 1000);
      if (waited.async) await waited.value;
    }
  }

  /** Resolves once every page is present; never blocks the thread. */
  async untilComplete(): Promise<void> {
    for (;;) {
      if (Atomics.load(this.header, PresentWord.OFF) === 1) return;
      const waited = Atomics.waitAsync(this.header, PresentWord.OFF, 0, 1000);
      if (waited.async) await waited.value;
    }
  }

  /** True when this caller owns `page`: no copy of it was claimed before. */
  claim(page: number): boolean {
    const bit = 1 << (page & 31);
    return (Atomics.or(this.claimed, page >>> 5, bit) & bit) === 0;
  }

  /**
   * Marks a claimed page present after its bytes are written, wakes vCPUs waiting on its word, and switches
   * the barrier off when it was the last missing page.
   */
  publish(page: number): void {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    if ((Atomics.or(this.present, w, bit) & bit) !== 0) return;
    if (Atomics.add(this.header, PresentWord.PRESENT_COUNT, 1) + 1 === this.pageCount) {
      Atomics.store(this.header, PresentWord.OFF, 1);
      Atomics.notify(this.header, PresentWord.OFF);
    }
    if (Atomics.load(this.header, PresentWord.WAITERS) > 0) Atomics.notify(this.present, w);
  }

  /**
   * UFFDIO_COPY: writes `bytes` into `page` (and marks it touched, as a receiver does) only if no copy was
   * placed before. @returns whether it placed it
   */
  place(memory: GuestMemory, page: number, bytes: Uint8Array): boolean {
    if (bytes.byteLength !== PAGE_SIZE) throw new RangeError(`a page is ${PAGE_SIZE} bytes, not ${bytes.byteLength}`);
    if (!this.claim(page)) return false;
    memory.page(page).set(bytes);
    memory.markTouched(page);
    this.publish(page);
    return true;
  }

  /**
   * Gives back the claims of pages claimed but never published: a placer thread terminated between claim and
   * publish (post-copy recovery stops the channel threads wherever they are). Without this, the copy re-sent
   * after recovery would be refused as a duplicate and the page would never arrive. Only while no placer runs.
   * @returns how many claims it gave back
   */
  releaseStuckClaims(): number {
    let released = 0;
    for (let w = 0; w < this.claimed.length; w++) {
      const stuck = Atomics.load(this.claimed, w) & ~Atomics.load(this.present, w);
      if (stuck === 0) continue;
      Atomics.and(this.claimed, w, ~stuck);
      for (let bits = stuck >>> 0; bits !== 0; bits &= bits - 1) released++;
    }
    return released;
  }

  isPresent(page: number): boolean {
    return ((Atomics.load(this.present, page >>> 5) >>> (page & 31)) & 1) === 1;
  }

  presentCount(): number {
    return Atomics.load(this.header, PresentWord.PRESENT_COUNT);
  }

  /** Every page present: the barrier is off. */
  get complete(): boolean {
    return Atomics.load(this.header, PresentWord.OFF) === 1;
  }

  /** Ascending indices of the pages not present. */
  missingPages(): Uint32Array {
    const inverted = new Int32Array(this.present.length);
    for (let w = 0; w < inverted.length; w++) inverted[w] = ~Atomics.load(this.present, w);
    const tail = this.pageCount & 31;
    if (tail !== 0) inverted[inverted.length - 1] = inverted[inverted.length - 1]! & ((1 << tail) - 1);
    return setBits(inverted);
  }

  /** The fault doorbell's value: pass it to waitForFault to sleep until a fault comes after it. */
  doorbell(): number {
    return Atomics.load(this.header, PresentWord.DOORBELL);
  }

  /** Resolves when a fault rings the doorbell after `seen`, or after `timeoutMs`; never blocks the thread. */
  async waitForFault(seen: number, timeoutMs: number): Promise<void> {
    const waited = Atomics.waitAsync(this.header, PresentWord.DOORBELL, seen, timeoutMs);
    if (waited.async) await waited.value;
  }

  /** Each vCPU's current (or last) fault. */
  faults(): VcpuFault[] {
    return Array.from({ length: this.vcpus }, (_, vcpu) => ({
      vcpu,
      seq: Atomics.load(this.header, slotWord(vcpu, Slot.SEQ)),
      page: Atomics.load(this.header, slotWord(vcpu, Slot.PAGE)) >>> 0,
      waiting: Atomics.load(this.header, slotWord(vcpu, Slot.WAITING)) === 1,
    }));
  }

  /** Wakes every vCPU waiting for a page so it re-reads its command word (Guest.park and stop call it). */
  wakeWaiters(): void {
    for (const fault of this.faults()) if (fault.waiting) Atomics.notify(this.present, fault.page >>> 5);
  }

  stats(): PresentStats {
    const vcpuFaults = this.faults().map((f) => f.seq);
    return {
      faults: vcpuFaults.reduce((a, b) => a + b, 0),
      vcpuFaults,
      vcpuBlockedUs: Array.from({ length: this.vcpus }, (_, i) => this.times[vcpuBlockedWord(i)]!),
      guestBlockedUs: this.times[TimeWord.GUEST_BLOCKED]!,
      latencyBuckets: Array.from({ length: LATENCY_BUCKETS }, (_, b) => Atomics.load(this.header, LATENCY_WORD + b)),
    };
  }
}

/** QEMU's bucket of a fault latency: floor(log2(us)), 0 below 2 us, capped at the last bucket. */
export function latencyBucket(us: number): number {
  if (us < 2) return 0;
  return Math.min(LATENCY_BUCKETS - 1, 31 - Math.clz32(Math.min(us, 2 ** 31) >>> 0));
}

/** Adds one fault latency to the shared histogram. */
export function countLatency(header: Int32Array, us: number): void {
  Atomics.add(header, LATENCY_WORD + latencyBucket(us), 1);
}

