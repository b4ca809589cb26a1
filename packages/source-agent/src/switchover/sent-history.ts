/**
 * Which pages the previous round sent: one bit per page (the history bitmap of Ibrahim et al.'s pattern
 * rule (c)). `record` counts the pages of a round that the previous round also sent, then makes this round
 * the previous one.
 */
export class SentHistory {
  private previous: Uint32Array;
  private current: Uint32Array;

  constructor(pageCount: number) {
    this.previous = new Uint32Array(Math.ceil(pageCount / 32));
    this.current = new Uint32Array(this.previous.length);
  }

  /** Records a round's pages; returns how many of them the previous round sent too. */
  record(pages: Uint32Array): number {
    const { previous, current } = this;
    current.fill(0);
    let resent = 0;
    for (let i = 0; i < pages.length; i++) {
      const page = pages[i]!;
      const word = page >>> 5;
      const bit = 1 << (page & 31);
      if ((previous[word]! & bit) !== 0) resent += 1;
      current[word] = current[word]! | bit;
    }
    this.previous = current;
    this.current = previous;
    return resent;
  }
}
