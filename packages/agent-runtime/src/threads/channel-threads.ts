import type { Worker } from 'node:worker_threads';
import { InternalError } from '@livemig/protocol';
import type { ReadyThread } from './ready-thread.js';

/**
 * The worker threads of one migration's data channels, one per channel, on either side: the source's
 * (spawnThreads ahead of the migration) and the destination's (ThreadPool.takeExactly from its warm pool).
 * Commands go to a channel by index; every message a channel posts goes to the owner's `onEvent`.
 *
 * The first failure of any channel is sticky: an error the owner rebuilt from a channel's message (fail()), a
 * thread's uncaught error (an exception or an unhandled rejection), an exit it was not told to make, or a
 * failure the thread had before it was taken. From then `failed` is rejected with it, every waiting reply()
 * rejects with it and every later post() throws it. Later failures are echoes of the first (a channel that
 * fails makes its peer cut the others).
 *
 * A thread may end on its own (exit code 0) only after its owner posted its last command (postLast) and it
 * has replied to it. Any other exit fails the set, code 0 included: a message posted to an ended thread is
 * dropped without a word, so a reply awaited from it, or a round it was to send or receive, would never come.
 */
export class ChannelThreads<Command, Event extends { type: string }> {
  /** Rejects with the first failure of any channel. */
  readonly failed: Promise<never>;
  #failure: Error | undefined;
  #rejectFailed: (error: Error) => void = () => {};
  readonly #workers: Worker[];
  /** Per channel: the reply() waiting for its next reply; called with undefined when the set fails. */
  readonly #replies: (((event: Event | undefined) => void) | undefined)[];
  /** Per channel: its last command was posted (postLast), so it may end once it has replied. */
  readonly #mayEnd: boolean[];

  /**
   * Adopts `threads` (channel i is `threads[i]`). `onEvent` sees every message a channel posts and returns
   * true if it consumed it; any other message is the reply to the command the channel is working on.
   */
  constructor(threads: ReadyThread[], onEvent: (channel: number, event: Event) => boolean) {
    this.failed = new Promise<never>((_, reject) => {
      this.#rejectFailed = reject;
    });
    this.failed.catch(() => {});
    this.#workers = threads.map(({ worker }) => worker);
    this.#replies = threads.map(() => undefined);
    this.#mayEnd = threads.map(() => false);
    threads.forEach((thread, channel) => {
      thread.worker.on('message', (event: Event) => {
        if (!onEvent(channel, event)) this.#replies[channel]?.(event);
      });
      // The thread's own error, rebuilt by Node.js from a copy: typed here, with the channel it came from.
      const crashed = (error: Error): void => this.fail(new InternalError(`channel ${channel} thread failed: ${oneLine(error)}`, { cause: error }));
      thread.worker.on('error', crashed);
      thread.worker.on('exit', (code) => {
        if (code === 0 && this.#mayEnd[channel] && !this.#replies[channel]) return;
        this.fail(new InternalError(`channel ${channel} thread exited unexpectedly (code ${code})`));
      });
      const failure = thread.adopt();
      if (failure) crashed(failure);
    });
  }

  get count(): number {
    return this.#workers.length;
  }

  /** The first failure of any channel, if there was one. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Posts `command` to `channel`.
   * @throws the first failure of any channel, if there was one
   */
  post(channel: number, command: Command): void {
    if (this.#failure) throw this.#failure;
    this.#workers[channel]!.postMessage(command);
  }

  /**
   * Posts `channel`'s last command: once it has replied to it, its thread may end on its own.
   * @throws the first failure of any channel, if there was one
   */
  postLast(channel: number, command: Command): void {
    this.post(channel, command);
    this.#mayEnd[channel] = true;
  }

  /**
   * The next reply of `channel` (a message onEvent did not consume), which must be of `type`.
   * @throws (rejects) the first failure of any channel, or an Error if the channel replied otherwise
   */
  reply<T extends Event['type']>(channel: number, type: T): Promise<Extract<Event, { type: T }>> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#replies[channel] = (event) => {
        this.#replies[channel] = undefined;
        if (event === undefined) reject(this.#failure);
        else if (event.type !== type) reject(new Error(`channel sent ${event.type}, expected ${type}`));
        else resolve(event as Extract<Event, { type: T }>);
      };
    });
  }

  /** Fails the set with `error`, unless it has failed already. */
  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#rejectFailed(error);
    for (const wake of this.#replies) wake?.(undefined);
  }

  /** Cuts every channel at once (failure or cancel). */
  terminate(): void {
    for (const worker of this.#workers) void worker.terminate();
  }

  /** Stops every channel thread; resolves once all have ended. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/** An error's message on one line (a report's and a CLI's error is one line). */
function oneLine(error: Error): string {
  return error.message.replace(/\s*\n\s*/g, ' ');
}
