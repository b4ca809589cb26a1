import { PAGE_ENCODING_NAMES, PageBatchWriter } from '@livemig/protocol';
import type { GuestMemory } from '@livemig/guest';
import type { FramedSocket } from './framed-socket.js';
import type { PageChecksums } from './page-checksums.js';
import type { PagesByEncoding } from './report.js';

/**
 * Sends lists of pages as PageBatch frames. Callers harvest the dirty log (atomic exchange, acquire)
 * before handing pages here, so every page is read after its dirty bit was taken: a vCPU write that races
 * the read marks the page dirty again and it goes out again in a later round (write-then-mark).
 */
export class PageSender {
  private readonly writer = new PageBatchWriter();
  readonly pagesByEncoding: PagesByEncoding = { zero: 0, sameByte: 0, lz4: 0, raw: 0 };
  pagesSent = 0;

  constructor(
    private readonly connection: FramedSocket,
    private readonly memory: GuestMemory,
    private readonly checksums: PageChecksums,
    private readonly checkCancelled: () => void,
  ) {}

  async send(pages: Uint32Array): Promise<void> {
    const { writer, memory } = this;
    for (let i = 0; i < pages.length; i++) {
      const index = pages[i]!;
      const page = memory.page(index);
      let encoding = writer.add(index, page);
      if (encoding === undefined) {
        this.checkCancelled();
        await this.connection.send(writer.takeFrame());
        encoding = writer.add(index, page);
        if (encoding === undefined) throw new Error(`page ${index} does not fit an empty batch`);
      }
      this.checksums.record(index, page);
      this.pagesByEncoding[PAGE_ENCODING_NAMES[encoding]] += 1;
    }
    if (writer.pageCount > 0) await this.connection.send(writer.takeFrame());
    this.pagesSent += pages.length;
  }
}
