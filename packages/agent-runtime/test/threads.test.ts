import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelThreads, ThreadPool, spawnThreads, type ReadyThread } from '../dist/threads/index.js';

const SCRIPT = new URL('./fixtures/pooled-thread.mjs', import.meta.url);

type Greeting = { type: 'online'; started: number };
type Command = { type: 'echo'; n: number } | { type: 'report'; message: string } | { type: 'throw'; message: string } | { type: 'reject'; message: string }
  | { type: 'exit'; code: number }
  | { type: 'finish' };
type Event = Greeting | { type: 'progress'; n: number } | { type: 'echoed'; n: number } | { type: 'error'; message: string } | { type: 'finished' };

/** The fixture's options: a fresh counter of threads started, and how they fail. */
function fixture(fail?: 'on-load' | 'exit-on-load' | 'after-greeting', failAt?: number): { spawned: Int32Array; options: { workerData: object } } {
  const buffer = new SharedArrayBuffer(4);
  return { spawned: new Int32Array(buffer), options: { workerData: { spawned: buffer, fail, failAt } } };
}

/**
 * Resolves when `worker` has ended (events.once would reject on the thread's error, which is the point here).
 * A worker whose exit was handled already has thread id -1: on a loaded host its greeting, error and exit can
 * be emitted in one turn (Node drains the ports before 'exit'), before the caller's await got here.
 */
function ended(worker: Worker): Promise<void> {
  if (worker.threadId === -1) return Promise.resolve();
  return new Promise((resolve) => worker.once('exit', () => resolve()));
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

function pool(size: number, options: { workerData: object }): ThreadPool<Greeting> {
  const made = new ThreadPool<Greeting>(SCRIPT, size, options);
  cleanups.push(() => made.close());
  return made;
}

function owned<T extends ReadyThread[]>(threads: T): T {
  cleanups.push(() => Promise.all(threads.map(({ worker }) => worker.terminate())));
  return threads;
}

describe('ThreadPool', () => {
  it('spawns its size ahead, hands out ready threads with their greetings, and never spawns in take()', async () => {
    const { spawned, options } = fixture();
    const threads = pool(2, options);
    const taken = owned(await threads.take(3));
    expect(taken).toHaveLength(2);
    expect(taken.map(({ greeting }) => greeting.type)).toEqual(['online', 'online']);
    expect(new Set(taken.map(({ greeting }) => greeting.started))).toEqual(new Set([0, 1]));
    expect(Atomics.load(spawned, 0)).toBe(2);
    expect(await threads.take(1)).toEqual([]);
  });

  it('takeExactly() takes the pooled threads first and spawns the rest now', async () => {
    const { spawned, options } = fixture();
    const threads = pool(1, options);
    const taken = owned(await threads.takeExactly(3));
    expect(taken).toHaveLength(3);
    expect(new Set(taken.map(({ greeting }) => greeting.started))).toEqual(new Set([0, 1, 2]));
    expect(Atomics.load(spawned, 0)).toBe(3);
  });

  it('refill() tops the pool up to its size; after close() it spawns nothing and take() finds nothing', async () => {
    const { spawned, options } = fixture();
    const threads = pool(2, options);
    owned(await threads.take(1));
    threads.refill();
    const next = owned(await threads.take(2));
    expect(next).toHaveLength(2);
    expect(Atomics.load(spawned, 0)).toBe(3);
    await threads.close();
    threads.refill();
    expect(await threads.take(2)).toEqual([]);
    expect(Atomics.load(spawned, 0)).toBe(3);
  });

  it('drops a pooled thread that failed before its greeting; takeExactly() surfaces the failure of its replacement', async () => {
    const { options } = fixture('on-load');
    const threads = pool(2, options);
    expect(await threads.take(2)).toEqual([]);
    await expect(threads.takeExactly(1)).rejects.toThrow(/^thread 2 failed to load$/);
  });

  it('takeExactly() rejects when a thread spawned now exits before its greeting, though the pool had one', async () => {
    const { spawned, options } = fixture('exit-on-load', 1);
    const threads = pool(1, options);
    // The pooled thread (started 0) is well; the one spawned now (started 1) exits.
    await expect(threads.takeExactly(2)).rejects.toThrow(/^worker thread exited with code 3 before it was ready$/);
    expect(Atomics.load(spawned, 0)).toBe(2);
  });
});

describe('spawnThreads', () => {
  it('resolves once every thread has greeted', async () => {
    const { spawned, options } = fixture();
    const threads = owned(await spawnThreads<Greeting>(SCRIPT, 3, options));
    expect(threads.map(({ greeting }) => greeting.type)).toEqual(['online', 'online', 'online']);
    expect(Atomics.load(spawned, 0)).toBe(3);
  });

  it('rejects with the first failure', async () => {
    const { options } = fixture('on-load', 2);
    await expect(spawnThreads(SCRIPT, 3, options)).rejects.toThrow(/^thread 2 failed to load$/);
  });

  it('keeps the failure of a thread between its greeting and its adoption', async () => {
    const { options } = fixture('after-greeting');
    let spawned: Awaited<ReturnType<typeof spawnThreads<Greeting>>>;
    try {
      spawned = await spawnThreads<Greeting>(SCRIPT, 1, options);
    } catch (error) {
      // On a loaded host the greeting and the failure can be handled in one turn, before spawnThreads hands
      // the thread over: then spawnThreads itself fails with the thread's failure, which is kept just the same.
      expect((error as Error).message).toBe('thread 0 failed while idle');
      return;
    }
    const [thread] = owned(spawned);
    await ended(thread!.worker);
    expect(thread!.failure?.message).toBe('thread 0 failed while idle');
    expect(thread!.adopt()?.message).toBe('thread 0 failed while idle');
  });
});

describe('ChannelThreads', () => {
  async function channels(count: number, onEvent: (channel: number, event: Event) => boolean = () => false): Promise<ChannelThreads<Command, Event>> {
    const { options } = fixture();
    return new ChannelThreads<Command, Event>(owned(await spawnThreads(SCRIPT, count, options)), onEvent);
  }

  it('gives onEvent every message and reply() the ones it did not consume', async () => {
    const seen: string[] = [];
    const set = await channels(2, (channel, event) => {
      seen.push(`${channel}:${event.type}`);
      return event.type === 'progress';
    });
    expect(set.count).toBe(2);
    set.post(1, { type: 'echo', n: 7 });
    await expect(set.reply(1, 'echoed')).resolves.toEqual({ type: 'echoed', n: 7 });
    expect(seen).toEqual(['1:progress', '1:echoed']);
    set.post(0, { type: 'echo', n: 8 });
    await expect(set.reply(0, 'progress')).rejects.toThrow(/^channel sent echoed, expected progress$/);
  });

  it('keeps the first failure: failed, every waiting reply and every later post carry it', async () => {
    const set = await channels(2, (_, event) => {
      if (event.type === 'error') set.fail(new Error(event.message));
      return event.type === 'error';
    });
    const waiting = set.reply(0, 'echoed');
    set.post(1, { type: 'report', message: 'first' });
    await expect(set.failed).rejects.toThrow(/^first$/);
    await expect(waiting).rejects.toThrow(/^first$/);
    set.fail(new Error('second'));
    expect(set.failure?.message).toBe('first');
    expect(() => set.post(0, { type: 'echo', n: 1 })).toThrow(/^first$/);
    await expect(set.reply(1, 'echoed')).rejects.toThrow(/^first$/);
  });

  it("fails on a thread's uncaught error with LM_ERR_INTERNAL naming the channel, and wakes a waiting reply", async () => {
    const set = await channels(2);
    const waiting = set.reply(1, 'echoed');
    set.post(1, { type: 'throw', message: 'boom' });
    await expect(set.failed).rejects.toMatchObject({ code: 'LM_ERR_INTERNAL', message: 'channel 1 thread failed: boom' });
    await expect(waiting).rejects.toThrow(/^channel 1 thread failed: boom$/);
  });

  it("fails on a thread's unhandled rejection", async () => {
    const set = await channels(1);
    const waiting = set.reply(0, 'echoed');
    set.post(0, { type: 'reject', message: 'lost promise' });
    await expect(waiting).rejects.toMatchObject({ code: 'LM_ERR_INTERNAL', message: 'channel 0 thread failed: lost promise' });
  });

  it('fails on an exit with a code other than 0', async () => {
    const set = await channels(1);
    set.post(0, { type: 'exit', code: 5 });
    await expect(set.failed).rejects.toThrow(/^channel 0 thread exited unexpectedly \(code 5\)$/);
  });

  it('fails on an exit with code 0 while a reply is awaited: the reply rejects instead of waiting forever', async () => {
    const set = await channels(2);
    const waiting = set.reply(1, 'echoed');
    set.post(1, { type: 'exit', code: 0 });
    await expect(waiting).rejects.toMatchObject({ code: 'LM_ERR_INTERNAL', message: 'channel 1 thread exited unexpectedly (code 0)' });
    expect(() => set.post(0, { type: 'echo', n: 1 })).toThrow(/^channel 1 thread exited unexpectedly \(code 0\)$/);
  });

  it('fails on an exit with code 0 with nothing awaited: the channel was not told to end', async () => {
    const set = await channels(1);
    set.post(0, { type: 'exit', code: 0 });
    await expect(set.failed).rejects.toThrow(/^channel 0 thread exited unexpectedly \(code 0\)$/);
    await expect(set.reply(0, 'echoed')).rejects.toThrow(/exited unexpectedly/);
  });

  it('lets a thread end on its own once it replied to its last command (postLast)', async () => {
    const { options } = fixture();
    const threads = owned(await spawnThreads(SCRIPT, 2, options));
    const set = new ChannelThreads<Command, Event>(threads, (_, event) => event.type === 'progress');
    set.postLast(0, { type: 'finish' });
    await expect(set.reply(0, 'finished')).resolves.toEqual({ type: 'finished' });
    await ended(threads[0]!.worker);
    expect(set.failure).toBeUndefined();
    set.post(1, { type: 'echo', n: 3 });
    await expect(set.reply(1, 'echoed')).resolves.toEqual({ type: 'echoed', n: 3 });
  });

  it('surfaces the failure a thread had before it was taken', async () => {
    // The thread fails on a command posted straight to its worker once spawnThreads handed it over (a thread
    // failing on its own after its greeting can fail inside spawnThreads on a loaded host; see above).
    const { options } = fixture();
    const threads = owned(await spawnThreads(SCRIPT, 1, options));
    threads[0]!.worker.postMessage({ type: 'throw', message: 'thread 0 failed while idle' });
    await ended(threads[0]!.worker);
    const set = new ChannelThreads<Command, Event>(threads, () => false);
    await expect(set.failed).rejects.toMatchObject({ code: 'LM_ERR_INTERNAL', message: 'channel 0 thread failed: thread 0 failed while idle' });
    expect(() => set.post(0, { type: 'echo', n: 1 })).toThrow(/^channel 0 thread failed: thread 0 failed while idle$/);
  });

  it('close() resolves once every thread has ended', async () => {
    const set = await channels(2);
    await set.close();
    expect(() => set.post(0, { type: 'echo', n: 1 })).toThrow(/exited unexpectedly \(code 1\)/);
  });
});
