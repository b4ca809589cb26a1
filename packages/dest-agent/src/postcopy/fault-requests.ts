import type { PresentMap } from '@livemig/guest';

/**
 * The destination's side of a fault: turns the vCPUs' fault slots (PresentMap) into page requests for the
 * source, each page asked once. QEMU's `migrate_send_rp_req_pages` does the same under its
 * page_request_mutex: a page already received, or already in the `page_requested` tree, is not asked again.
 * One thread owns it (the fault thread that owns the urgent connection).
 */
export class FaultRequests {
  readonly #map: PresentMap;
  /** The fault count of each vCPU's slot at the last collect: a higher one is a new fault. */
  readonly #seen: number[];
  /** Pages asked for and not yet seen present. */
  readonly #requested = new Set<number>();
  #pagesRequested = 0;

  constructor(map: PresentMap) {
    this.#map = map;
    this.#seen = map.faults().map((f) => f.seq);
  }

  /** Pages to request now: those of new faults that are neither present nor already requested. */
  collect(): number[] {
    const pages: number[] = [];
    for (const fault of this.#map.faults()) {
      if (fault.seq === this.#seen[fault.vcpu]) continue;
      this.#seen[fault.vcpu] = fault.seq;
      const page = fault.page;
      if (this.#map.isPresent(page) || this.#requested.has(page)) continue;
      this.#requested.add(page);
      pages.push(page);
    }
    this.#pagesRequested += pages.length;
    return pages;
  }

  /** Requested pages not present yet: what a recovered connection must ask again. Forgets the present ones. */
  outstanding(): number[] {
    for (const page of this.#requested) if (this.#map.isPresent(page)) this.#requested.delete(page);
    return [...this.#requested];
  }

  /** Pages asked for so far (QEMU's postcopy_requests). */
  get pagesRequested(): number {
    return this.#pagesRequested;
  }
}
