import { UnexpectedFrameError } from '@livemig/protocol';

/** A round every data channel has applied in full: its pages over the channels, and the slowest channel's time. */
export interface AppliedRound {
  round: number;
  pages: number;
  /** The slowest channel's time applying its share (its waits for the source's bytes left out). */
  applyMs: number;
}

/**
 * Gathers the channels' round ends into whole rounds, in order: round n is whole once every channel has applied
 * its share (each channel carries every round, even with no pages for it; PROTOCOL.md). What the destination
 * acknowledges with RoundAck.
 */
/**
 * How many rounds one channel may end ahead of the slowest channel. The source posts round n + 1 to its channels
 * only once all of them sent round n, so real channels are apart by the rounds their sockets buffer, a handful; a
 * source ending rounds on one channel only would otherwise grow this table by one entry per round it sends.
 */
export const MAX_OPEN_ROUNDS = 1024;

export class AppliedRounds {
  /** Per round not yet whole: channels that ended it, pages so far, the slowest channel's time. */
  readonly #open = new Map<number, { channels: number; pages: number; applyMs: number }>();
  #whole = 0;

  constructor(private readonly channelCount: number) {}

  /**
   * Records one channel's end of `round`; returns the rounds this made whole, oldest first.
   * @throws UnexpectedFrameError when `round` is more than MAX_OPEN_ROUNDS ahead of the last whole round
   */
  channelEnded(round: number, pages: number, applyMs: number): AppliedRound[] {
    if (round - this.#whole > MAX_OPEN_ROUNDS) {
      throw new UnexpectedFrameError(`a channel ended round ${round} while round ${this.#whole + 1} is not applied on every channel (at most ${MAX_OPEN_ROUNDS} rounds apart)`);
    }
    const entry = this.#open.get(round) ?? { channels: 0, pages: 0, applyMs: 0 };
    entry.channels += 1;
    entry.pages += pages;
    entry.applyMs = Math.max(entry.applyMs, applyMs);
    this.#open.set(round, entry);
    const whole: AppliedRound[] = [];
    for (let next = this.#open.get(this.#whole + 1); next !== undefined && next.channels === this.channelCount; next = this.#open.get(this.#whole + 1)) {
      this.#whole += 1;
      this.#open.delete(this.#whole);
      whole.push({ round: this.#whole, pages: next.pages, applyMs: next.applyMs });
    }
    return whole;
  }
}
