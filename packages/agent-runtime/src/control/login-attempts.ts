import { controlError } from './errors.js';

/** Wrong tokens one address may post to /login in a window before it is refused. */
export const MAX_FAILED_LOGINS = 5;
/** The window: it starts at an address's first wrong token, and the count starts again after it. */
export const LOGIN_WINDOW_MS = 60_000;
/** Addresses tracked at once; one more forgets the one tracked longest (the map holds no more than this). */
export const MAX_TRACKED_ADDRESSES = 1024;

/**
 * A per-address limit on wrong tokens at the dashboard's login: MAX_FAILED_LOGINS in LOGIN_WINDOW_MS, then every
 * login from that address is refused (the right token too: a guesser learns nothing) until the window ends.
 * The token is compared in constant time anyway; this bounds how many guesses an address gets. A right token
 * forgets the address's count.
 */
export class LoginAttempts {
  readonly #failures = new Map<string, { since: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * @throws ControlError LM_ERR_TOO_MANY_LOGINS (429, with Retry-After in whole seconds) while `address` is limited
   */
  check(address: string): void {
    const entry = this.#current(address);
    if (entry === undefined || entry.count < MAX_FAILED_LOGINS) return;
    const retryAfter = Math.max(1, Math.ceil((entry.since + LOGIN_WINDOW_MS - this.now()) / 1000));
    throw controlError('LM_ERR_TOO_MANY_LOGINS', `${entry.count} wrong tokens from ${address}: try again in ${retryAfter} s`, {
      headers: { 'retry-after': String(retryAfter) },
    });
  }

  /** Counts a wrong token from `address`. */
  failed(address: string): void {
    const entry = this.#current(address);
    if (entry !== undefined) {
      entry.count++;
      return;
    }
    if (this.#failures.size >= MAX_TRACKED_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(address, { since: this.now(), count: 1 });
  }

  /** A right token from `address`: its count is forgotten. */
  succeeded(address: string): void {
    this.#failures.delete(address);
  }

  /** Addresses with wrong tokens in their window. */
  get tracked(): number {
    return this.#failures.size;
  }

  #current(address: string): { since: number; count: number } | undefined {
    const entry = this.#failures.get(address);
    if (entry !== undefined && this.now() - entry.since >= LOGIN_WINDOW_MS) {
      this.#failures.delete(address);
      return undefined;
    }
    return entry;
  }
}
