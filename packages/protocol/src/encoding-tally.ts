import { PAGE_ENCODING_NAMES, PageEncoding, emptyEncodingCounts } from './constants.js';
import type { PageBatchStats } from './page-batch-types.js';

const CODES = Object.values(PageEncoding);

/**
 * PageBatchWriter's cumulative counts, kept per entry encoding code in typed arrays: counting each entry into
 * the stats' keyed objects (a name lookup, then two keyed updates) was part of the writer's per-page
 * bookkeeping (issue 11). `stats()` makes the PageBatchStats view when asked, once a round.
 */
export class EncodingTally {
  readonly #pages = new Float64Array(CODES.length);
  readonly #bytes = new Float64Array(CODES.length);

  add(encoding: PageEncoding, pages: number, entryBytes: number): void {
    this.#pages[encoding] = this.#pages[encoding]! + pages;
    this.#bytes[encoding] = this.#bytes[encoding]! + entryBytes;
  }

  stats(): PageBatchStats {
    const stats: PageBatchStats = { pages: emptyEncodingCounts(), bytes: emptyEncodingCounts() };
    for (const code of CODES) {
      const name = PAGE_ENCODING_NAMES[code];
      stats.pages[name] += this.#pages[code]!;
      stats.bytes[name] += this.#bytes[code]!;
    }
    return stats;
  }
}
