import type { GuestMemory } from '@livemig/guest';
import { PageBatchWriter, type PageChecksums } from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { SharedRateLimiter } from '../rate-limiter.js';

/**
 * Writes guest pages as PageBatch frames on one connection, from this thread: the page server's answers on the
 * urgent connection, and after a recovery the push on the recovered control connection. Each page's CRC goes
 * into the checksum table as it is written (the digest covers what was sent). With a limiter, every frame
 * takes its bytes from the migration's bandwidth limit first.
 */
export class PageSender {
  readonly #conn: FramedSocket;
  readonly #memory: GuestMemory;
  readonly #checksums: PageChecksums;
  readonly #limiter: SharedRateLimiter | undefined;
  readonly #writer = new PageBatchWriter();

  constructor(conn: FramedSocket, memory: GuestMemory, checksums: PageChecksums, limiter?: SharedRateLimiter) {
    this.#conn = conn;
    this.#memory = memory;
    this.#checksums = checksums;
    this.#limiter = limiter;
  }

  /** Sends `pages` in as few frames as fit. @throws the connection's error */
  async send(pages: Iterable<number>): Promise<void> {
    for (const page of pages) {
      if (this.#writer.add(page, this.#memory.page(page)) === undefined) {
        await this.#flush();
        this.#writer.add(page, this.#memory.page(page));
      }
      this.#checksums.record(page, this.#writer.pageCrc);
    }
    if (this.#writer.pageCount > 0) await this.#flush();
  }

  async #flush(): Promise<void> {
    const frame = this.#writer.takeFrame();
    await this.#limiter?.take(frame.length);
    await this.#conn.send(frame);
  }
}
