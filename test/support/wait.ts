/**
 * How every test waits: for a condition to hold, for a value to be read, or for an item (an output line, a
 * log record) to arrive. A wait ends on what happened; its deadline only turns a hang into a failure that
 * says what was awaited. A slow host makes a test take longer, never fail (see vitest.config.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fixed pause. Only for a window in which something must NOT happen (a parked guest does no op while it
 * lasts), where a slow host only makes the check easier; never to wait for something to happen.
 */
export { sleep };

/** Long enough for anything a test waits for on a loaded 2-core host, short of vitest's test timeout. */
export const DEFAULT_WAIT_MS = 60_000;
const DEFAULT_POLL_MS = 10;

export interface WaitOptions {
  /** The deadline; default DEFAULT_WAIT_MS. */
  timeoutMs?: number;
  /** How often a condition is polled; default 10 ms. */
  intervalMs?: number;
  /** What the wait is for, for the failure message. */
  what?: string;
  /** More to say when the deadline passes (what has been seen so far), read only then. */
  context?: () => string;
}

/**
 * Resolves once `condition()` is true, polling it.
 * @throws Error naming `what` when the deadline passes first
 */
export async function waitFor(condition: () => boolean, options: WaitOptions = {}): Promise<void> {
  await waitForValue(() => condition(), (ok) => ok, options);
}

/**
 * Resolves with the first value `read()` gives that `ok` accepts, polling it (reads may be async, such as
 * an HTTP request, and are never overlapped).
 * @throws Error naming `what` and the last value read when the deadline passes first
 */
export async function waitForValue<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = DEFAULT_WAIT_MS, intervalMs = DEFAULT_POLL_MS, what = 'a condition' } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${show(value)}`);
    }
    await sleep(intervalMs);
  }
}

/** Items that arrive one by one (an agent's output lines, its log records), and what has arrived so far. */
export interface Feed<T> {
  readonly seen: readonly T[];
  /** Calls `listener` for every later item; returns the unsubscribe function. */
  subscribe(listener: (item: T) => void): () => void;
  /** Settles when no more items can come (the process exited), with what to say about it. */
  readonly ended?: Promise<string>;
}

/**
 * Resolves with `match(item)` for the first item, already seen or arriving later, for which it is not
 * undefined.
 * @throws Error naming `what` when the feed ends or the deadline passes first
 */
export function nextMatch<T, R>(feed: Feed<T>, match: (item: T) => R | undefined, options: WaitOptions = {}): Promise<R> {
  const { timeoutMs = DEFAULT_WAIT_MS, what = 'a matching item', context } = options;
  for (const item of feed.seen) {
    const found = match(item);
    if (found !== undefined) return Promise.resolve(found);
  }
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      settle();
    };
    const timer = setTimeout(() => {
      const message = `no ${what} within ${timeoutMs} ms${context ? `:\n${context()}` : ''}`;
      finish(() => reject(new Error(message)));
    }, timeoutMs);
    const unsubscribe = feed.subscribe((item) => {
      const found = match(item);
      if (found !== undefined) finish(() => resolve(found));
    });
    void feed.ended?.then((why) => finish(() => reject(new Error(`${why} before ${what} came`))));
  });
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
