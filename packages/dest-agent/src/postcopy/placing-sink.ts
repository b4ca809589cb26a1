import type { GuestMemory, PresentMap } from '@livemig/guest';
import { MAX_RUN_PAGES, PAGE_SIZE, PageEncoding, UnexpectedFrameError, type PageBatchSink } from '@livemig/protocol';

/** What a PlacingSink has done so far. */
export interface Placements {
  /** Pages written into guest memory: the first copy of each. */
  placed: number;
  /** Copies dropped because the page was already present or placed: a late duplicate never overwrites. */
  dropped: number;
}

/**
 * Where the page batches of post-copy land (readPageBatch's sink and onPage): every page is decoded into a
 * private staging ring first, then placed only if absent (PresentMap.place's claim, like UFFDIO_COPY), so a copy
 * that comes after the guest wrote the page is dropped instead of overwriting it.
 *
 * The ring has MAX_RUN_PAGES pages and page `i` stages at `i % MAX_RUN_PAGES`: the pages of one Lz4Run entry
 * (at most MAX_RUN_PAGES consecutive pages) never share a staging page, and readPageBatch calls onPage for
 * each page right after its bytes are final, before the next entry is decoded. Delta entries are refused: a
 * delta applies to the copy the destination holds, and in post-copy the guest may have written it since.
 */
export class PlacingSink implements PageBatchSink {
  readonly pageCount: number;
  readonly placements: Placements = { placed: 0, dropped: 0 };
  readonly #memory: GuestMemory;
  readonly #map: PresentMap;
  readonly #staging = new Uint8Array(MAX_RUN_PAGES * PAGE_SIZE);
  readonly #onPlaced: ((index: number, pageCrc: number) => void) | undefined;

  /** `onPlaced`: called for each page placed, with its CRC (for the page checksum table). */
  constructor(memory: GuestMemory, map: PresentMap, onPlaced?: (index: number, pageCrc: number) => void) {
    this.pageCount = memory.pageCount;
    this.#memory = memory;
    this.#map = map;
    this.#onPlaced = onPlaced;
  }

  page(index: number): Uint8Array {
    const at = (index % MAX_RUN_PAGES) * PAGE_SIZE;
    return this.#staging.subarray(at, at + PAGE_SIZE);
  }

  /** readPageBatch's onPage: the staged copy of `index` is complete; place it unless a copy was placed before. */
  readonly onPage = (index: number, encoding: PageEncoding, pageCrc: number): void => {
    if (encoding === PageEncoding.Delta) throw new UnexpectedFrameError(`a delta for page ${index} during post-copy`);
    if (this.#map.place(this.#memory, index, this.page(index))) {
      this.placements.placed++;
      this.#onPlaced?.(index, pageCrc);
    } else {
      this.placements.dropped++;
    }
  };
}
