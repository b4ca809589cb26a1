import type { GuestMemory } from '@livemig/guest';
import { WorkingSetLru } from './working-set-lru.js';

/** How often the accessed bitmap is harvested into the LRU, during preprocessing and the rounds. */
export const WS_SAMPLE_MS = 100;

/** What the report says about the working-set framework (MigrationReport.workingSet). */
export interface WorkingSetReport {
  /** `--working-set`: the working set list's capacity in pages. */
  capacityPages: number;
  /** Pages in the working set list at the stop. */
  sizePages: number;
  /** Pages in the inactive list at the stop. */
  inactivePages: number;
  /** T_pre: the preprocessing phase before round 1. */
  preprocessMs: number;
  /** Accessed-bitmap harvests fed to the LRU. */
  samples: number;
  /** Times a round skipped a page because it was in the working set. */
  deferrals: number;
  /** Pages round 1 deferred (M - what round 1 sent, in the model's terms). */
  firstRoundDeferred: number;
  /** Distinct pages stop-and-copy sent because a round had deferred them. */
  pagesDeferred: number;
  /** Of those, pages that were dirty at the stop anyway (dirtied during the last push round). */
  deferredDirtyAtStop: number;
  /** Of those, pages dirtied again after a round deferred them, up to the stop: each saved at least one resend. */
  deferredRedirtied: number;
  /** Deferred pages that left the working set before the stop and went in a later round. */
  releasedPages: number;
}

/**
 * Zaw and Thein's framework on the source: a preprocessing phase fills the working-set LRU from the guest's
 * accessed bits; the push rounds skip pages in the working set; stop-and-copy sends them.
 *
 * Invariant (nothing is lost): a page whose newest bytes have not been sent is dirty in the log or
 * **deferred** here. A round defers the working-set pages it skips; a deferred page that drops out of the
 * working set goes in the next round (it may never be dirtied again); stop-and-copy sends every deferred page
 * with the last dirty ones, so it does not depend on what the LRU predicts at the stop.
 */
export class WorkingSetFramework {
  readonly lru: WorkingSetLru;
  readonly #memory: GuestMemory;
  readonly #deferred: Uint8Array;
  /** 1: deferred and dirtied again since (a resend the deferral saved). */
  readonly #redirtied: Uint8Array;
  #deferredCount = 0;
  #released: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #samples = 0;
  #deferrals = 0;
  #releasedTotal = 0;
  #preprocessMs = 0;
  #firstRoundDeferred = 0;
  #final = { pages: 0, dirtyAnyway: 0, redirtied: 0 };

  constructor(memory: GuestMemory, capacityPages: number) {
    this.#memory = memory;
    this.lru = new WorkingSetLru(memory.pageCount, capacityPages);
    this.#deferred = new Uint8Array(memory.pageCount);
    this.#redirtied = new Uint8Array(memory.pageCount);
    this.lru.onEvict = (page) => {
      if (this.#deferred[page] === 1) this.#released.push(page);
    };
  }

  /** Feeds the accesses since the last harvest to the LRU. */
  sample(): void {
    this.lru.referenceAll(this.#memory.harvestAccessed());
    this.#samples++;
  }

  /**
   * The preprocessing phase: forgets the accesses from before it, then samples every WS_SAMPLE_MS for
   * `durationMs`. Afterwards the LRU keeps being sampled until stop().
   */
  async preprocess(durationMs: number, wait: (ms: number) => Promise<void>): Promise<void> {
    const started = performance.now();
    this.#memory.harvestAccessed();
    for (let left = durationMs; left > 0; left = durationMs - (performance.now() - started)) {
      await wait(Math.min(WS_SAMPLE_MS, left));
      this.sample();
    }
    this.#preprocessMs = performance.now() - started;
    this.#timer = setInterval(() => this.sample(), WS_SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Pages deferred so far and not yet sent. */
  get deferredCount(): number {
    return this.#deferredCount;
  }

  /**
   * What a push round sends of `pages` (ascending): those outside the working set, plus deferred pages that
   * have left it since. Defers the rest; `first` marks round 1. @returns ascending page indices
   */
  pushRound(pages: Uint32Array, first = false): Uint32Array {
    this.sample();
    const deferralsBefore = this.#deferrals;
    const out: number[] = [];
    for (const page of pages) {
      if (this.lru.has(page)) {
        this.#defer(page);
      } else {
        if (this.#deferred[page] === 1) this.#undefer(page);
        out.push(page);
      }
    }
    for (const page of this.#released) {
      // Still deferred (not sent above) and still outside the working set (not referenced again since).
      if (this.#deferred[page] === 1 && !this.lru.has(page)) {
        this.#undefer(page);
        this.#releasedTotal++;
        out.push(page);
      }
    }
    this.#released = [];
    if (first) this.#firstRoundDeferred = this.#deferrals - deferralsBefore;
    return Uint32Array.from(out).sort();
  }

  /** What stop-and-copy sends: the last dirty pages and every deferred page. @returns ascending page indices */
  stopRound(dirty: Uint32Array): Uint32Array {
    let dirtyAnyway = 0;
    for (const page of dirty) {
      if (this.#deferred[page] === 1) {
        dirtyAnyway++;
        this.#redirtied[page] = 1;
      }
    }
    let redirtied = 0;
    for (let page = 0; page < this.#deferred.length; page++) redirtied += this.#deferred[page]! & this.#redirtied[page]!;
    const out = new Uint32Array(dirty.length + this.#deferredCount - dirtyAnyway);
    out.set(dirty);
    let end = dirty.length;
    const isDirty = new Uint8Array(this.#deferred.length);
    for (const page of dirty) isDirty[page] = 1;
    for (let page = 0; page < this.#deferred.length; page++) {
      if (this.#deferred[page] === 1 && isDirty[page] === 0) out[end++] = page;
    }
    this.#final = { pages: this.#deferredCount, dirtyAnyway, redirtied };
    this.#deferred.fill(0);
    this.#deferredCount = 0;
    this.stop();
    return out.sort();
  }

  report(): WorkingSetReport {
    return {
      capacityPages: this.lru.capacity,
      sizePages: this.lru.size,
      inactivePages: this.lru.inactiveSize,
      preprocessMs: Math.round(this.#preprocessMs * 10) / 10,
      samples: this.#samples,
      firstRoundDeferred: this.#firstRoundDeferred,
      deferrals: this.#deferrals,
      pagesDeferred: this.#final.pages,
      deferredDirtyAtStop: this.#final.dirtyAnyway,
      deferredRedirtied: this.#final.redirtied,
      releasedPages: this.#releasedTotal,
    };
  }

  #defer(page: number): void {
    this.#deferrals++;
    if (this.#deferred[page] === 0) {
      this.#deferred[page] = 1;
      this.#deferredCount++;
    } else {
      this.#redirtied[page] = 1;
    }
  }

  #undefer(page: number): void {
    this.#deferred[page] = 0;
    this.#redirtied[page] = 0;
    this.#deferredCount--;
  }
}
