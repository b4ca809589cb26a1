import { FrameType, UnexpectedFrameError, type Frame, type RoundAckMessage } from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';

/**
 * How far the source may run ahead of the destination: it begins round n + 2 only once round n is acknowledged
 * (RoundAck, capability `round-ack-v1`), so at most two rounds are in flight, the one being sent and the one
 * before it, which the destination may still be applying.
 *
 * Why that bound: with one round (wait for round n's ack before round n + 1) the two sides would take turns, the
 * source idle while the destination applies and the reverse, and pre-copy would take twice as long. With two the
 * destination applies round n while the source encodes round n + 1, and the backlog the destination can hold is
 * at most one round. Without a bound, rounds whose pages go as a few bytes each (sparse runs) fit the socket
 * buffers many at a time, so TCP never pushes back, and a source faster than its destination finishes pre-copy
 * with the destination many rounds behind: that backlog was then paid with the guest parked (PERFORMANCE.md,
 * "The source's per-page CPU", the reverted variant).
 */
export const ROUNDS_IN_FLIGHT = 2;

/** What the source learns from the acknowledgements, for its report. */
export interface RoundAckReport {
  /** Rounds acknowledged: every pre-copy round, and the final one when its acknowledgement came before Committed. */
  acknowledged: number;
  /** Most rounds begun and not yet acknowledged at any round's start, that round included (at most ROUNDS_IN_FLIGHT). */
  maxRoundsInFlight: number;
  /** Time spent waiting for acknowledgements (the guest running), over the migration. */
  waitedMs: number;
}

/**
 * The source's side of the acknowledgements: it reads them off the control connection, which carries nothing
 * else from the destination during pre-copy. A destination that stops acknowledging fails the wait after
 * `timeoutMs` with LM_ERR_TIMEOUT (the control connection has no idle timeout of its own while pre-copy keeps
 * it silent), and the migration fails before commit: the guest runs on here.
 */
export class RoundAcks {
  #acked = 0;
  #begun = 0;
  readonly report: RoundAckReport = { acknowledged: 0, maxRoundsInFlight: 0, waitedMs: 0 };

  constructor(
    private readonly conn: FramedSocket,
    private readonly timeoutMs: number,
    /** Told of each acknowledgement as it is read (the destination's per-page cost). */
    private readonly onAck: (ack: RoundAckMessage) => void,
  ) {}

  /** The last round acknowledged. */
  get acked(): number {
    return this.#acked;
  }

  /**
   * Waits until round `round` may begin (round - ROUNDS_IN_FLIGHT acknowledged), then counts it as begun.
   * @throws LM_ERR_TIMEOUT when no acknowledgement came for `timeoutMs`; UnexpectedFrameError; the connection's errors
   */
  async begin(round: number): Promise<void> {
    await this.until(round - ROUNDS_IN_FLIGHT);
    this.#begun = round;
    this.report.maxRoundsInFlight = Math.max(this.report.maxRoundsInFlight, round - this.#acked);
  }

  /** Waits until `round` (and every round before it) is acknowledged. @throws as begin() */
  async until(round: number): Promise<void> {
    if (this.#acked >= round) return;
    const start = performance.now();
    try {
      while (this.#acked < round) this.take(await this.conn.receive(this.timeoutMs, `RoundAck of round ${this.#acked + 1}`));
    } finally {
      this.report.waitedMs += performance.now() - start;
    }
  }

  /**
   * Takes `frame` if it is an acknowledgement (returns true), or returns false. The commit phase reads past an
   * acknowledgement of the final round, which the destination may send before it reads the CPU state.
   * @throws UnexpectedFrameError for an acknowledgement out of order or of a round not begun
   */
  take(frame: Frame): boolean {
    if (frame.type !== FrameType.RoundAck) return false;
    const { round } = frame.message;
    if (round !== this.#acked + 1 || round > this.#begun) {
      throw new UnexpectedFrameError(`RoundAck of round ${round} after round ${this.#acked} was acknowledged and round ${this.#begun} begun`);
    }
    this.#acked = round;
    this.report.acknowledged = round;
    this.onAck(frame.message);
    return true;
  }

  /** The next frame that is not an acknowledgement. @throws as FramedSocket.receive, and take() */
  async receiveOther(timeoutMs: number, waitingFor: string): Promise<Frame> {
    for (;;) {
      const frame = await this.conn.receive(timeoutMs, waitingFor);
      if (!this.take(frame)) return frame;
    }
  }
}
