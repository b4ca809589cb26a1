import type { GuestMemory } from '@livemig/guest';
import { FrameType, UnexpectedFrameError, checkPageIndices, frameTypeName, type PageChecksums } from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import { PageSender } from './page-sender.js';
import type { PushOrder } from './push-order.js';

/** What the page server did (QEMU's names: postcopy_requests; pages sent more than once). */
export interface PageServerStats {
  /** Pages the destination asked for. */
  pagesRequested: number;
  /** Of those, pages answered on the urgent connection (the others had been pushed already). */
  pagesAnswered: number;
  /** Pages sent more than once: never, since a requested page leaves the push and a pushed one is not answered. */
  pagesSentTwice: number;
}

/**
 * The source's side of the urgent connection: reads PageRequest frames and answers each with the pages still
 * unsent, in one PageBatch, before anything else this thread does (the push waits on the channel threads, so
 * an answer never queues behind bulk encoding). A page already pushed is not sent again: its copy is on its way
 * on a data channel (QEMU's `get_queued_page` skips sent pages too), so every page crosses the wire once.
 */
export class PageServer {
  readonly stats: PageServerStats;
  readonly #conn: FramedSocket;
  readonly #memory: GuestMemory;
  readonly #order: PushOrder;
  readonly #sender: PageSender;
  #stopped = false;

  /** `stats`: where to count (the migration's report, so that its live statistics see the counts). */
  constructor(conn: FramedSocket, memory: GuestMemory, order: PushOrder, checksums: PageChecksums, stats: PageServerStats) {
    this.stats = stats;
    this.#conn = conn;
    this.#memory = memory;
    this.#order = order;
    this.#sender = new PageSender(conn, memory, checksums);
  }

  /**
   * Serves requests until stop() or the connection ends.
   * @throws the connection's error, UnexpectedFrameError for any frame but PageRequest, PageIndexOutOfRangeError
   */
  async serve(): Promise<void> {
    while (!this.#stopped) {
      let frame;
      try {
        frame = await this.#conn.receive(undefined, 'PageRequest');
      } catch (error) {
        if (this.#stopped) return;
        throw error;
      }
      if (frame.type !== FrameType.PageRequest) throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the urgent connection`);
      const pages = frame.message.pages;
      checkPageIndices(pages, this.#memory.pageCount);
      this.stats.pagesRequested += pages.length;
      const answers = Array.from(pages).filter((page) => this.#order.request(page));
      await this.#sender.send(answers);
      this.stats.pagesAnswered += answers.length;
    }
  }

  stop(): void {
    this.#stopped = true;
  }
}
