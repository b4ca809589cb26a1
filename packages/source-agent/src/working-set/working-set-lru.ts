const NONE = -1;
/** Where a page is (`#where`); the two lists double as indices of `#head`, `#tail` and `#size`. */
const OUTSIDE = 0;
const IN_WORKING_SET = 1;
const INACTIVE = 2;
type List = typeof IN_WORKING_SET | typeof INACTIVE;

/**
 * The working-set prediction of Zaw and Thein (their Fig. 2): a **working set list** of at most `capacity`
 * pages kept as an LRU stack (a referenced page moves to the top; when the list is full its bottom page
 * moves to the **inactive list**), and the inactive list, ordered by time of removal (oldest removal first).
 * A referenced inactive page leaves the inactive list for the top of the working set list.
 *
 * O(1) per reference: both lists are doubly linked through two typed arrays indexed by page (a page is in
 * at most one list), so a guest of any size costs 9 bytes per page and no allocation per reference.
 */
export class WorkingSetLru {
  readonly capacity: number;
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  readonly #where: Uint8Array;
  // Working set list: head = most recently used. Inactive list: head = removed longest ago.
  readonly #head = new Int32Array(3).fill(NONE);
  readonly #tail = new Int32Array(3).fill(NONE);
  readonly #size = new Int32Array(3);
  /** Called with each page the working set list pushes out to the inactive list. */
  onEvict: ((page: number) => void) | undefined;

  constructor(pageCount: number, capacity: number) {
    this.capacity = capacity;
    this.#prev = new Int32Array(pageCount).fill(NONE);
    this.#next = new Int32Array(pageCount).fill(NONE);
    this.#where = new Uint8Array(pageCount);
  }

  get size(): number {
    return this.#size[IN_WORKING_SET]!;
  }

  get inactiveSize(): number {
    return this.#size[INACTIVE]!;
  }

  has(page: number): boolean {
    return this.#where[page] === IN_WORKING_SET;
  }

  /** A reference to `page`: it goes to the top of the working set list. */
  reference(page: number): void {
    if (this.capacity === 0) return;
    const where = this.#where[page];
    if (where === IN_WORKING_SET) {
      if (this.#head[IN_WORKING_SET] === page) return;
      this.#unlink(IN_WORKING_SET, page);
    } else if (where === INACTIVE) {
      this.#unlink(INACTIVE, page);
    }
    this.#link(IN_WORKING_SET, page, true);
    if (this.#size[IN_WORKING_SET]! > this.capacity) {
      const bottom = this.#tail[IN_WORKING_SET]!;
      this.#unlink(IN_WORKING_SET, bottom);
      this.#link(INACTIVE, bottom, false);
      this.onEvict?.(bottom);
    }
  }

  /** References every page of one accessed-bitmap harvest, in the order given. */
  referenceAll(pages: ArrayLike<number>): void {
    for (let i = 0; i < pages.length; i++) this.reference(pages[i]!);
  }

  /** The working set list, most recently used first. */
  workingSet(): Uint32Array {
    return this.#walk(IN_WORKING_SET);
  }

  /** The inactive list, removed longest ago first. */
  inactive(): Uint32Array {
    return this.#walk(INACTIVE);
  }

  #walk(list: List): Uint32Array {
    const out = new Uint32Array(this.#size[list]!);
    for (let page = this.#head[list]!, i = 0; page !== NONE; page = this.#next[page]!, i++) out[i] = page;
    return out;
  }

  /** Links `page` in as the head (`atHead`) or the tail of list `list`. */
  #link(list: List, page: number, atHead: boolean): void {
    const prev = this.#prev;
    const next = this.#next;
    if (atHead) {
      const head = this.#head[list]!;
      prev[page] = NONE;
      next[page] = head;
      if (head !== NONE) prev[head] = page;
      else this.#tail[list] = page;
      this.#head[list] = page;
    } else {
      const tail = this.#tail[list]!;
      next[page] = NONE;
      prev[page] = tail;
      if (tail !== NONE) next[tail] = page;
      else this.#head[list] = page;
      this.#tail[list] = page;
    }
    this.#where[page] = list;
    this.#size[list]!++;
  }

  #unlink(list: List, page: number): void {
    const prev = this.#prev[page]!;
    const next = this.#next[page]!;
    if (prev !== NONE) this.#next[prev] = next;
    else this.#head[list] = next;
    if (next !== NONE) this.#prev[next] = prev;
    else this.#tail[list] = prev;
    this.#where[page] = OUTSIDE;
    this.#size[list]!--;
  }
}
