import type { HostPort } from '@livemig/agent-runtime';

/** The automatic reconnection's backoff (`--postcopy-retries`): the first after this long, doubling up to the maximum. */
export const RESUME_RETRY_FIRST_MS = 200;
export const RESUME_RETRY_MAX_MS = 5_000;

/** How long automatic attempt `attempt` (0-based) waits first. */
export function resumeBackoffMs(attempt: number): number {
  return Math.min(RESUME_RETRY_MAX_MS, RESUME_RETRY_FIRST_MS * 2 ** Math.min(attempt, 16));
}

/**
 * How a paused post-copy migration learns where to reconnect: the operator's resume (POST /migrations/:id/resume,
 * with the destination's recovery port or its main port), or a timer for the automatic retries. The operator's
 * discard ends the wait for good.
 */
export class ResumeRequests {
  #waiter: { resolve: (target: HostPort) => void; reject: (error: Error) => void } | undefined;
  #discarded: Error | undefined;

  /** Whether a paused migration waits for a resume now. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  /** Hands `target` to the waiting migration. @returns false when none waits (not paused, or an attempt runs) */
  resume(target: HostPort): boolean {
    const waiter = this.#waiter;
    if (!waiter) return false;
    this.#waiter = undefined;
    waiter.resolve(target);
    return true;
  }

  /** Ends every wait, now and later, with `error`. */
  discard(error: Error): void {
    this.#discarded = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  /**
   * The next target: the operator's, or `automatic.target` after `automatic.delayMs` if that comes first (no
   * automatic attempt: only the operator's). @throws the discard's error
   */
  next(automatic?: { target: HostPort; delayMs: number }): Promise<HostPort> {
    if (this.#discarded) return Promise.reject(this.#discarded);
    return new Promise<HostPort>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiter = undefined;
      };
      this.#waiter = {
        resolve: (target) => {
          settle();
          resolve(target);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      if (automatic) timer = setTimeout(() => this.#waiter?.resolve(automatic.target), automatic.delayMs);
    });
  }
}
