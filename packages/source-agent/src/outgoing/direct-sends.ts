/**
 * The pages a pre-copy round sent while direct-pages-v2 was agreed: each may have gone as a Raw page of a
 * PageBatchDirect, read from live guest memory by the socket after the source recorded its CRC. Such a page
 * that changed under its send reached the destination torn, and is right only because it is dirty and sent
 * again; the soft-page and balloon filters must therefore never skip a page marked here (once skipped, the
 * source's table keeps the CRC of the content before the change, and repair at commit, which re-sends the page
 * as it is now, cannot make the tables agree: LM_ERR_REPAIR_FAILED). Pages never sent stay theirs to skip.
 */
export class DirectSends {
  readonly #sent: Uint8Array;

  constructor(pageCount: number) {
    this.#sent = new Uint8Array(pageCount);
  }

  /** Marks a pre-copy round's pages (the superset of those that went raw and direct). */
  record(pages: Uint32Array): void {
    const sent = this.#sent;
    for (let i = 0; i < pages.length; i++) sent[pages[i]!] = 1;
  }

  /** Whether `page` may have reached the destination from live memory: every later change of it must be sent. */
  mustResend(page: number): boolean {
    return this.#sent[page] === 1;
  }
}
