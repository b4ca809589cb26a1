import { Command, COMMAND_WORD, EPOCH_WORD } from './control.js';
import {
  countLatency,
  faultStartWord,
  PresentMap,
  type PresentMapHandles,
  PresentWord,
  Slot,
  slotWord,
  TimeWord,
  vcpuBlockedWord,
} from './present-map.js';

/**
 * Thrown by `ensure` when a page is missing. Every op checks all the pages it touches before it changes a
 * register or a byte of memory (a page chosen by random numbers is found with RandomPeek first), so an op
 * that throws this has changed nothing: the worker re-runs it at the op boundary once the page is there, where
 * the vCPU can still be parked and its register file is complete. No registers are saved per op, which is
 * what made the barrier cost 8-11 % on the smallest ops. Not an Error: no stack.
 */
export const PAGE_MISSING: unique symbol = Symbol('page missing');

/** Ops between two looks at the shared "barrier off" word while the barrier is on. */
const POLL_OPS = 1024;
/** Longest sleep on a present word: the wait re-reads the command and epoch words at least this often. */
const WAIT_SLICE_MS = 50;

/** Microseconds on the clock every thread of the process shares (performance.now() differs per worker). */
function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * A vCPU's side of the present map (present-map.ts): the access barrier of post-copy. The fast path is a
 * plain field test and, while post-copy runs, a load from a private cache of present words: no atomics. A
 * present bit never clears during post-copy, so a bit once seen set may be cached.
 */
export class PresentBarrier {
  /** False without a present map or once every page is present: then `ensure` returns at once. */
  active = false;
  readonly #map: PresentMap | undefined;
  readonly #vcpu: number;
  readonly #known: Uint32Array;
  #generation = -1;
  #countdown = POLL_OPS;
  /** The page the last ensure() found missing. */
  #missing = -1;
  /** The page of the fault this vCPU published and still waits for: a re-run of the op does not fault again. */
  #pending = -1;

  constructor(handles: PresentMapHandles | undefined, vcpu: number) {
    this.#map = handles ? PresentMap.attach(handles) : undefined;
    this.#vcpu = vcpu;
    this.#known = new Uint32Array(this.#map ? this.#map.present.length : 0);
    this.refresh();
  }

  /** Checks that `page` is present; call for every page an op touches, before the op writes anything. */
  ensure(page: number): void {
    if (!this.active) return;
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    if ((this.#known[w]! & bit) !== 0) return;
    const word = Atomics.load(this.#map!.present, w);
    if ((word & bit) === 0) {
      this.#missing = page;
      throw PAGE_MISSING;
    }
    this.#known[w] = word;
  }

  /** Re-reads whether the barrier is on and drops cached bits after a new switch. Call at an op boundary. */
  refresh(): void {
    const map = this.#map;
    if (!map) return;
    const generation = Atomics.load(map.header, PresentWord.GENERATION);
    if (generation !== this.#generation) {
      this.#known.fill(0);
      this.#generation = generation;
    }
    this.active = Atomics.load(map.header, PresentWord.OFF) === 0;
  }

  /**
   * Runs `op` with the barrier on: returns false, the op having changed nothing, when a page it needs is
   * missing (then call waitForMissing). Every POLL_OPS ops it looks whether the barrier went off.
   */
  runGuarded(op: () => void): boolean {
    if (--this.#countdown <= 0) {
      this.#countdown = POLL_OPS;
      this.refresh();
    }
    try {
      op();
      return true;
    } catch (error) {
      if (error !== PAGE_MISSING) throw error;
      return false;
    }
  }

  /**
   * Publishes a fault for the missing page (once per page) and sleeps on its present word. Returns true once
   * the page is present; false when the command left RUN or the dirty-log epoch moved, so the worker's loop
   * parks, stops or acknowledges, then re-runs the op, which comes back here without faulting again.
   */
  waitForMissing(control: Int32Array, epoch: number): boolean {
    const map = this.#map!;
    const header = map.header;
    const page = this.#missing;
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    // Waiting first, then the fault, then the load: a placer that sets the bit after our load sees us waiting.
    Atomics.store(header, slotWord(this.#vcpu, Slot.WAITING), 1);
    Atomics.add(header, PresentWord.WAITERS, 1);
    const start = nowUs();
    if (Atomics.add(header, PresentWord.DOWN, 1) + 1 === map.vcpus) map.times[TimeWord.ALL_DOWN_SINCE] = start;
    if (this.#pending !== page) {
      this.#pending = page;
      map.times[faultStartWord(this.#vcpu)] = start;
      Atomics.store(header, slotWord(this.#vcpu, Slot.PAGE), page | 0);
      Atomics.add(header, slotWord(this.#vcpu, Slot.SEQ), 1); // publishes page and start time
      Atomics.add(header, PresentWord.DOORBELL, 1);
      Atomics.notify(header, PresentWord.DOORBELL);
    }
    let arrived = false;
    for (;;) {
      const word = Atomics.load(map.present, w);
      if ((word & bit) !== 0) {
        arrived = true;
        break;
      }
      if (Atomics.load(control, COMMAND_WORD) !== Command.RUN || Atomics.load(control, EPOCH_WORD) !== epoch) break;
      Atomics.wait(map.present, w, word, WAIT_SLICE_MS);
    }
    const end = nowUs();
    // QEMU's rule: the vCPU that ends an all-down period adds it to the whole-guest blocktime.
    if (Atomics.sub(header, PresentWord.DOWN, 1) === map.vcpus) {
      map.times[TimeWord.GUEST_BLOCKED] = map.times[TimeWord.GUEST_BLOCKED]! + (end - map.times[TimeWord.ALL_DOWN_SINCE]!);
    }
    map.times[vcpuBlockedWord(this.#vcpu)] = map.times[vcpuBlockedWord(this.#vcpu)]! + (end - start);
    Atomics.sub(header, PresentWord.WAITERS, 1);
    Atomics.store(header, slotWord(this.#vcpu, Slot.WAITING), 0);
    if (arrived) {
      countLatency(header, end - map.times[faultStartWord(this.#vcpu)]!);
      this.#pending = -1;
    }
    return arrived;
  }
}
