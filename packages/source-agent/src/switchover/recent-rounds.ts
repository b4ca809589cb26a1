import { PAGE_SIZE } from '@livemig/protocol';
import type { SwitchoverCost } from './switchover-cost.js';

/** Rounds the bandwidth is taken over when the source waits for acknowledgements between them. */
export const RECENT_ROUNDS = 3;

/**
 * The bandwidth with round acknowledgements (round-ack-v1): the source idles between rounds while the destination
 * catches up, and a wall-clock window would count those waits as a slow link, so the rate is the last rounds'
 * own, their guest bytes over their sending time.
 */
export class RecentRounds {
  readonly #rounds: { bytes: number; ms: number }[] = [];

  /** Records a pre-copy round just sent: `bytes` of guest memory in `ms`. */
  add(bytes: number, ms: number): void {
    this.#rounds.push({ bytes, ms });
    if (this.#rounds.length > RECENT_ROUNDS) this.#rounds.shift();
  }

  /** Guest bytes per ms over the last RECENT_ROUNDS rounds (0: none yet, or no time). */
  rate(): number {
    return rateOf(this.#rounds);
  }

  /**
   * Feeds the newest round's latency to `cost`, judged at the bandwidth of the rounds before it. At a bandwidth
   * that counts the round's own time its latency cancels out: round 1 alone then gave exactly 0, and the shortest
   * latency (SwitchoverCost keeps the minimum) stayed 0 for the whole migration. Round 1 has no round before it
   * and feeds nothing.
   */
  observeLatency(cost: SwitchoverCost): void {
    const newest = this.#rounds.at(-1);
    const before = rateOf(this.#rounds.slice(0, -1));
    if (newest !== undefined && before > 0) cost.observeRound(newest.bytes / PAGE_SIZE, newest.ms, before);
  }
}

function rateOf(rounds: readonly { bytes: number; ms: number }[]): number {
  const ms = rounds.reduce((sum, r) => sum + r.ms, 0);
  return ms > 0 ? rounds.reduce((sum, r) => sum + r.bytes, 0) / ms : 0;
}
