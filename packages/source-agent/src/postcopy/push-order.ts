/**
 * The order in which a post-copy source pushes the pages the destination does not have yet (pre-paging), and
 * how much it pushes at a time. Pure: it never touches memory or sockets; the page server asks it what comes
 * next and tells it which pages were requested.
 *
 * - `bubble` (Hines and Gopalan, VEE 2009, multi-pivot bubbling): each requested page becomes a pivot, and the
 *   push walks outward from it in both directions (p+1, p-1, p+2, p-2, ...), skipping pages already sent.
 *   Up to `pivots` bubbles live at once (one per vCPU: each vCPU has its own locality); a request inside a
 *   live bubble re-centres that bubble, one elsewhere replaces the oldest. With no live bubble: a linear sweep.
 * - `forward` (QEMU, ram.c `get_queued_page`): one cursor, moved to just after each requested page, wrapping.
 * - `linear` (Cloud Hypervisor): ascending from the lowest unsent page, requests ignored.
 *
 * Pacing (CRIU, criu/uffd.c): a chunk starts at 16 pages (64 KiB), grows by 16 after every chunk pushed
 * without a request in between, up to 1024 pages (4 MiB), and drops back to 16 on a request, so the order
 * can follow a new fault soon. In hybrid mode `first` (the pages dirtied in the last pre-copy rounds, the
 * writable working set) goes out before anything else, in the order given.
 */
export type Prepaging = 'bubble' | 'forward' | 'linear';
export const PREPAGING_NAMES: readonly Prepaging[] = Object.freeze(['bubble', 'forward', 'linear']);

export const MIN_CHUNK_PAGES = 16;
export const MAX_CHUNK_PAGES = 1024;

interface Bubble {
  /** Next candidate above the pivot, and below it (-1: that edge is done). */
  up: number;
  down: number;
  /** Request count when it was (re)centred: the oldest is replaced first. */
  born: number;
}

export interface PushOrderOptions {
  policy: Prepaging;
  /** Live bubbles at most (bubble only); the number of vCPUs. */
  pivots: number;
  /** Pushed before anything else, in this order (hybrid: the recently dirtied pages). */
  first?: ArrayLike<number>;
}

export class PushOrder {
  readonly pageCount: number;
  readonly #policy: Prepaging;
  readonly #maxBubbles: number;
  readonly #unsent: Uint32Array;
  #remaining = 0;
  #chunk = MIN_CHUNK_PAGES;
  #requests = 0;
  readonly #bubbles: Bubble[] = [];
  #nextBubble = 0;
  /** Linear sweep and forward cursor. */
  #cursor = 0;
  readonly #first: ArrayLike<number>;
  #firstAt = 0;

  /** `unsent`: the pages the destination lacks (ascending or not; duplicates are ignored). */
  constructor(pageCount: number, unsent: ArrayLike<number>, options: PushOrderOptions) {
    this.pageCount = pageCount;
    this.#policy = options.policy;
    this.#maxBubbles = Math.max(1, options.pivots);
    this.#unsent = new Uint32Array(Math.ceil(pageCount / 32));
    for (let i = 0; i < unsent.length; i++) {
      const page = unsent[i]!;
      if (!Number.isInteger(page) || page < 0 || page >= pageCount) throw new RangeError(`page ${page} outside 0..${pageCount - 1}`);
      if (this.isUnsent(page)) continue;
      this.#unsent[page >>> 5]! |= 1 << (page & 31);
      this.#remaining++;
    }
    this.#first = options.first ?? [];
  }

  /** Pages not yet pushed nor requested. */
  get remaining(): number {
    return this.#remaining;
  }

  /** Pages the next chunk may hold at most (CRIU's pacing). */
  get chunkPages(): number {
    return this.#chunk;
  }

  isUnsent(page: number): boolean {
    return ((this.#unsent[page >>> 5]! >>> (page & 31)) & 1) === 1;
  }

  #take(page: number): boolean {
    if (!this.isUnsent(page)) return false;
    this.#unsent[page >>> 5]! &= ~(1 << (page & 31));
    this.#remaining--;
    return true;
  }

  /**
   * After a recovery: `page` was sent but never arrived (lost in flight with the connection), so it goes back
   * into the push. @returns whether it was sent already (false: it was still unsent, nothing changes)
   */
  requeue(page: number): boolean {
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) throw new RangeError(`page ${page} outside 0..${this.pageCount - 1}`);
    if (this.isUnsent(page)) return false;
    this.#unsent[page >>> 5]! |= 1 << (page & 31);
    this.#remaining++;
    // The sweep resumes from the lowest page again, so a requeued page behind the cursor is reached.
    this.#cursor = 0;
    return true;
  }

  /**
   * A vCPU waits for `page`: it is taken out of the push (the caller answers it on the urgent connection),
   * the order moves to it, the chunk shrinks. @returns whether it was still unsent (false: already pushed)
   */
  request(page: number): boolean {
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) throw new RangeError(`page ${page} outside 0..${this.pageCount - 1}`);
    this.#requests++;
    this.#chunk = MIN_CHUNK_PAGES;
    const fresh = this.#take(page);
    if (this.#policy === 'forward') this.#cursor = page + 1 < this.pageCount ? page + 1 : 0;
    if (this.#policy === 'bubble') this.#centre(page);
    return fresh;
  }

  #centre(page: number): void {
    const bubble = { up: page + 1, down: page - 1, born: this.#requests };
    let at = this.#bubbles.findIndex((b) => b.down < page && page < b.up);
    if (at < 0 && this.#bubbles.length < this.#maxBubbles) {
      at = this.#bubbles.length;
    } else if (at < 0) {
      at = 0;
      for (let i = 1; i < this.#bubbles.length; i++) if (this.#bubbles[i]!.born < this.#bubbles[at]!.born) at = i;
    }
    this.#bubbles[at] = bubble;
    // The newest fault's locality is pushed first.
    this.#nextBubble = at;
  }

  /** The next pages to push, at most chunkPages of them, each taken out of the unsent set; empty when done. */
  next(): number[] {
    const out: number[] = [];
    const want = Math.min(this.#chunk, this.#remaining);
    while (out.length < want && this.#firstAt < this.#first.length) {
      const page = this.#first[this.#firstAt++]!;
      if (page >= 0 && page < this.pageCount && this.#take(page)) out.push(page);
    }
    if (this.#policy === 'bubble') this.#fromBubbles(out, want);
    this.#sweep(out, want);
    if (out.length > 0) this.#chunk = Math.min(MAX_CHUNK_PAGES, this.#chunk + MIN_CHUNK_PAGES);
    return out;
  }

  /** Round robin over the live bubbles, each giving up to a share of the chunk, nearest pages first. */
  #fromBubbles(out: number[], want: number): void {
    const share = Math.max(2, Math.ceil((want - out.length) / Math.max(1, this.#bubbles.length)));
    while (out.length < want && this.#bubbles.length > 0) {
      const at = this.#nextBubble % this.#bubbles.length;
      const bubble = this.#bubbles[at]!;
      const before = out.length;
      while (out.length - before < share && out.length < want && (bubble.up < this.pageCount || bubble.down >= 0)) {
        if (bubble.up < this.pageCount) {
          bubble.up = this.#nextUnsentUp(bubble.up);
          if (bubble.up < this.pageCount && out.length < want) out.push(this.#takeAt(bubble.up++));
        }
        if (bubble.down >= 0 && out.length - before < share && out.length < want) {
          bubble.down = this.#nextUnsentDown(bubble.down);
          if (bubble.down >= 0) out.push(this.#takeAt(bubble.down--));
        }
      }
      if (bubble.up >= this.pageCount && bubble.down < 0) {
        this.#bubbles.splice(at, 1);
      } else {
        this.#nextBubble = at + 1;
      }
    }
  }

  #takeAt(page: number): number {
    this.#take(page);
    return page;
  }

  /** Ascending from the cursor to the end, then from page 0 (only `forward` moves the cursor back). */
  #sweep(out: number[], want: number): void {
    while (out.length < want && this.#remaining > 0) {
      const page = this.#nextUnsentUp(this.#cursor);
      if (page >= this.pageCount) {
        this.#cursor = 0;
        continue;
      }
      out.push(this.#takeAt(page));
      this.#cursor = page + 1;
    }
  }

  /** The lowest unsent page >= from (pageCount if none), a word at a time over sent stretches. */
  #nextUnsentUp(from: number): number {
    let page = from;
    while (page < this.pageCount) {
      const bits = this.#unsent[page >>> 5]! >>> (page & 31);
      if (bits !== 0) return Math.min(this.pageCount, page + 31 - Math.clz32(bits & -bits));
      page = ((page >>> 5) + 1) << 5;
    }
    return this.pageCount;
  }

  /** The highest unsent page <= from (-1 if none). */
  #nextUnsentDown(from: number): number {
    let page = from;
    while (page >= 0) {
      const shift = 31 - (page & 31);
      const bits = (this.#unsent[page >>> 5]! << shift) >>> 0;
      if (bits !== 0) return page - Math.clz32(bits);
      page = ((page >>> 5) << 5) - 1;
    }
    return -1;
  }
}
