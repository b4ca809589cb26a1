import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BadArgumentError } from '@livemig/protocol';
// Not exported from the package index (yet): import the built module directly (npm run build first).
import { SharedRateLimiter } from '../dist/rate-limiter.js';
import { sleep } from '../../../test/support/wait.js';

const MODULE_URL = new URL('../dist/rate-limiter.js', import.meta.url).href;
const KIB = 1024;
const FRAME = 64 * KIB;
const DEFAULT_BURST = 256 * KIB + 16; // one page batch frame (rate-limiter.ts), for rates up to 26 MB/s

const now = (): bigint => process.hrtime.bigint();
const msSince = (start: bigint, end = now()): number => Number(end - start) / 1e6;
/** How long a sleeper sleeps at most before it re-reads the rate (SLICE_MS in rate-limiter.ts). */
const SLICE_MS = 50;

/**
 * Runs `body` on a simulated clock (setTimeout and process.hrtime, which the limiter sleeps and reads):
 * what the limiter does at each moment, with no host speed in it. Time moves only by `advance`.
 */
async function onSimulatedClock(body: () => Promise<void>): Promise<void> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'hrtime'] });
  try {
    await body();
  } finally {
    vi.useRealTimers();
  }
}
const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

/** Settles `promise` if it can settle without any time passing (no timer), and says how it stands. */
async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return state;
}

/** Runs `action` and returns how many sleeps (setTimeout calls) were begun while it ran. */
async function sleepsDuring(action: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  try {
    await action();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/**
 * A channel-worker stand-in: attaches the limiter and, on command, either takes frames until a deadline
 * (reporting when each take resolved) or takes one block. Plain JS, so it runs without vitest's transform.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const now = () => process.hrtime.bigint();
import(workerData.moduleUrl).then(({ SharedRateLimiter }) => {
  const limiter = SharedRateLimiter.attach(workerData.buffer);
  // Each sleep the limiter begins in this thread, with the rate it could read then.
  let sleeps = [];
  const setTimeoutOfNode = globalThis.setTimeout;
  globalThis.setTimeout = (...args) => (sleeps.push({ ms: args[1], rate: limiter.rate }), setTimeoutOfNode(...args));
  parentPort.on('message', async (command) => {
    try {
      if (command.type === 'flood') {
        const times = [];
        while (now() < command.until) {
          await limiter.take(command.frame);
          times.push(now());
        }
        parentPort.postMessage({ type: 'flooded', times });
      } else if (command.type === 'take') {
        sleeps = [];
        parentPort.postMessage({ type: 'taking', at: now() });
        await limiter.take(command.bytes);
        parentPort.postMessage({ type: 'taken', at: now(), sleeps });
      }
    } catch (error) {
      parentPort.postMessage({ type: 'error', message: String(error) });
    }
  });
  parentPort.postMessage({ type: 'ready' });
});
`;

type WorkerEvent =
  | { type: 'ready' }
  | { type: 'flooded'; times: bigint[] }
  | { type: 'taking'; at: bigint }
  | { type: 'taken'; at: bigint; sleeps: { ms: number; rate: number }[] }
  | { type: 'error'; message: string };

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.terminate()));
});

function next<T extends WorkerEvent['type']>(worker: Worker, type: T): Promise<Extract<WorkerEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (event: WorkerEvent): void => {
      if (event.type === 'error') reject(new Error(event.message));
      else if (event.type === type) resolve(event as Extract<WorkerEvent, { type: T }>);
      else return;
      worker.off('message', onMessage);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
}

async function spawn(limiter: SharedRateLimiter): Promise<Worker> {
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { moduleUrl: MODULE_URL, buffer: limiter.buffer } });
  workers.push(worker);
  await next(worker, 'ready');
  return worker;
}

async function flood(limiter: SharedRateLimiter, until: bigint): Promise<bigint[]> {
  const times: bigint[] = [];
  while (now() < until) {
    await limiter.take(FRAME);
    times.push(now());
  }
  return times;
}

/** On the simulated clock: each limiter floods until `ms` from now; the times its takes resolved. */
async function floodSimulated(limiters: SharedRateLimiter[], ms: number): Promise<{ t0: bigint; until: bigint; times: bigint[][] }> {
  const t0 = now();
  const until = t0 + BigInt(ms) * 1_000_000n;
  const runs = Promise.all(limiters.map((limiter) => flood(limiter, until)));
  // Time enough for the takes still queued at `until` to go too.
  await advance(ms + 1000);
  return { t0, until, times: await runs };
}

/**
 * The limit: no take was taken before t0, so by any time t the takes resolved number at most
 * rate * (t - t0) + burst bytes. Checked at every resolution. A resolution is timestamped after the take
 * resolved, so a late event loop only makes this easier: the check cannot fail because the VM is slow.
 * Returns the largest excess in bytes (<= 0 when the limit held) and the total.
 */
function excessOverLimit(times: bigint[], t0: bigint, rate: number, burst: number): { excess: number; total: number } {
  const sorted = [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let total = 0;
  let excess = Number.NEGATIVE_INFINITY;
  for (const t of sorted) {
    total += FRAME;
    excess = Math.max(excess, total - ((rate * Number(t - t0)) / 1e9 + burst));
  }
  return { excess, total };
}

describe('SharedRateLimiter paces takes at the rate', () => {
  const RATE = 2_000_000;
  const RUN_NS = 1_000_000_000n;

  it('one thread: never faster than the limit', async () => {
    const limiter = SharedRateLimiter.create(RATE);
    const t0 = now();
    const times = await flood(limiter, t0 + RUN_NS);
    const { excess, total } = excessOverLimit(times, t0, RATE, DEFAULT_BURST);
    const inRun = times.filter((t) => t <= t0 + RUN_NS).length * FRAME;
    console.log(`one thread: ${total} bytes in ${msSince(t0, times.at(-1)).toFixed(0)} ms, ${inRun} in the first second, excess ${excess.toFixed(0)}`);
    // Tight: at most rounding (A is floored to whole bytes) above rate * t + burst.
    expect(excess).toBeLessThanOrEqual(16);
  });

  it('one thread on a simulated clock: never faster than the limit, and as fast as it allows', async () => {
    await onSimulatedClock(async () => {
      const limiter = SharedRateLimiter.create(RATE);
      const { t0, until, times } = await floodSimulated([limiter], 1000);
      const [mine] = times as [bigint[]];
      expect(excessOverLimit(mine, t0, RATE, DEFAULT_BURST).excess).toBeLessThanOrEqual(16);
      // Every whole frame the limit allows in the first second went in it: rate * 1 s + burst, less a frame.
      const inRun = mine.filter((t) => t <= until).length * FRAME;
      expect(inRun).toBeGreaterThanOrEqual(RATE + DEFAULT_BURST - FRAME);
    });
  });

  it('main thread and two workers sharing the buffer: the limit holds for their sum', async () => {
    const limiter = SharedRateLimiter.create(RATE);
    const pool = await Promise.all([spawn(limiter), spawn(limiter)]);
    const t0 = now();
    const until = t0 + RUN_NS;
    const results = pool.map((worker) => next(worker, 'flooded'));
    for (const worker of pool) worker.postMessage({ type: 'flood', until, frame: FRAME });
    const mine = await flood(limiter, until);
    const theirs = (await Promise.all(results)).map((event) => event.times);
    const all = [mine, ...theirs].flat();
    const { excess, total } = excessOverLimit(all, t0, RATE, DEFAULT_BURST);
    const inRun = all.filter((t) => t <= until).length * FRAME;
    console.log(
      `three threads: frames ${[mine, ...theirs].map((times) => times.length).join('/')}, ${total} bytes, ` +
        `${inRun} in the first second, excess ${excess.toFixed(0)}`,
    );
    expect(excess).toBeLessThanOrEqual(16);
    // Every thread got a share (reservations are FIFO across threads).
    for (const times of [mine, ...theirs]) expect(times.length).toBeGreaterThan(0);
  });

  it('three takers on one buffer, on a simulated clock: their sum is the limit, and they take turns', async () => {
    await onSimulatedClock(async () => {
      const limiter = SharedRateLimiter.create(RATE);
      const takers = [limiter, SharedRateLimiter.attach(limiter.buffer), SharedRateLimiter.attach(limiter.buffer)];
      const { t0, until, times } = await floodSimulated(takers, 1000);
      expect(excessOverLimit(times.flat(), t0, RATE, DEFAULT_BURST).excess).toBeLessThanOrEqual(16);
      expect(times.flat().filter((t) => t <= until).length * FRAME).toBeGreaterThanOrEqual(RATE + DEFAULT_BURST - FRAME);
      // FIFO reservations: in turn, so no taker is more than one frame ahead of another.
      const counts = times.map((taken) => taken.length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    });
  });

  it('a fixed burst of 0 makes every take wait for its own bytes', async () => {
    const limiter = SharedRateLimiter.create(1_000_000, { burstBytes: 0 });
    const start = now();
    await limiter.take(20_000);
    await limiter.take(20_000);
    expect(msSince(start)).toBeGreaterThanOrEqual(39.9);
  });

  it('the default burst lets a frame after an idle gap go at once', async () => {
    await onSimulatedClock(async () => {
      const limiter = SharedRateLimiter.create(RATE);
      await advance(50);
      // At once: without a moment of the clock passing.
      expect(await stateOf(limiter.take(FRAME))).toBe('resolved');
    });
  });
});

describe('SharedRateLimiter unlimited', () => {
  it('rate 0 never waits', async () => {
    const limiter = SharedRateLimiter.create(0);
    expect(limiter.rate).toBe(0);
    // Not one sleep in 10,000 takes of a GiB each.
    expect(await sleepsDuring(async () => {
      for (let i = 0; i < 10_000; i++) await limiter.take(1 << 30);
    })).toBe(0);
  });

  it('setRate(0) releases a take that is waiting, within one sleep slice', async () => {
    await onSimulatedClock(async () => {
      const limiter = SharedRateLimiter.create(100_000);
      await limiter.take(DEFAULT_BURST);
      const waiting = limiter.take(1_000_000); // 10 s at 100 kB/s
      await advance(100);
      expect(await stateOf(waiting)).toBe('pending');
      limiter.setRate(0);
      await advance(SLICE_MS);
      expect(await stateOf(waiting)).toBe('resolved');
    });
  });
});

describe('SharedRateLimiter.setRate while a migration runs', () => {
  it('raising the rate lets a sender (worker thread) waiting on a large block go on at once', async () => {
    const limiter = SharedRateLimiter.create(200_000);
    const worker = await spawn(limiter);
    worker.postMessage({ type: 'take', bytes: DEFAULT_BURST }); // uses up the burst
    await next(worker, 'taken');
    worker.postMessage({ type: 'take', bytes: 1_000_000 }); // ~5 s at 200 kB/s
    await next(worker, 'taking');
    const taken = next(worker, 'taken');
    // A window for the sender to sleep under the old rate.
    await sleep(200);
    const raised = now();
    limiter.setRate(50_000_000); // the rest now takes ~19 ms; the sleeper re-reads the rate within 50 ms
    expect(limiter.rate).toBe(50_000_000);
    const { at, sleeps } = await taken;
    console.log(`sender went on ${msSince(raised, at).toFixed(1)} ms after the rate was raised, ${sleeps.length} sleeps`);
    expect(at).toBeGreaterThan(raised); // it was really waiting under the old rate
    // Once its thread saw the new rate, the rest was one sleep (two or three when a timer fires a little
    // early): at the old rate the ~4.8 s left would have been about a hundred sleeps of 50 ms.
    expect(sleeps.filter((nap) => nap.rate === 50_000_000).length).toBeLessThanOrEqual(3);
    expect(sleeps.filter((nap) => nap.rate === 200_000).length).toBeGreaterThan(0);
  });

  it('raising the rate on the main thread releases a main-thread sleeper within a slice and the rest at the new rate', async () => {
    await onSimulatedClock(async () => {
      const limiter = SharedRateLimiter.create(200_000);
      await limiter.take(DEFAULT_BURST);
      let resolvedAt: bigint | undefined;
      const waiting = limiter.take(1_000_000).then(() => (resolvedAt = now()));
      await advance(200);
      expect(resolvedAt).toBeUndefined();
      const raised = now();
      limiter.setRate(50_000_000);
      // The sleep in progress (at most a slice), then what is left at 50 MB/s (under 20 ms): the ~4.8 s it
      // would still have taken at the old rate are gone.
      await advance(SLICE_MS + 20);
      expect(await stateOf(waiting)).toBe('resolved');
      expect(msSince(raised, resolvedAt)).toBeLessThanOrEqual(SLICE_MS + 20);
    });
  });

  it('lowering the rate paces later takes at the new rate at once', async () => {
    const limiter = SharedRateLimiter.create(50_000_000);
    limiter.setRate(1_000_000);
    expect(limiter.rate).toBe(1_000_000);
    const start = now();
    await limiter.take(DEFAULT_BURST); // the burst: at once
    await limiter.take(200_000); // 200 ms at 1 MB/s
    expect(msSince(start)).toBeGreaterThanOrEqual(199.9);
  });

  it('a rate set from a worker is seen by the main thread', async () => {
    const limiter = SharedRateLimiter.create(1_000);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.moduleUrl).then(({ SharedRateLimiter }) => {
         SharedRateLimiter.attach(workerData.buffer).setRate(123_456);
         parentPort.postMessage({ type: 'ready' });
       });`,
      { eval: true, workerData: { moduleUrl: MODULE_URL, buffer: limiter.buffer } },
    );
    workers.push(worker);
    await next(worker, 'ready');
    expect(limiter.rate).toBe(123_456);
  });
});

describe('SharedRateLimiter abort', () => {
  it('an aborted signal rejects take with its reason', async () => {
    const limiter = SharedRateLimiter.create(1_000);
    const reason = new Error('cancelled');
    await expect(limiter.take(10, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('aborting while waiting rejects at once and gives the reservation back', async () => {
    const limiter = SharedRateLimiter.create(100_000);
    await limiter.take(DEFAULT_BURST);
    const controller = new AbortController();
    const reason = new Error('migration cancelled');
    const waiting = limiter.take(1_000_000, controller.signal); // 10 s
    waiting.catch(() => {});
    // A window for the take to sleep on its reservation.
    await sleep(50);
    // At once: rejected without waiting for any timer.
    controller.abort(reason);
    expect(await stateOf(waiting)).toBe('rejected');
    await expect(waiting).rejects.toBe(reason);
    // Without the give-back, the next take would queue behind the aborted megabyte (another 10 s of sleeps).
    expect(await sleepsDuring(() => limiter.take(1_000))).toBe(0);
  });
});

describe('SharedRateLimiter arguments', () => {
  const bad = { name: 'BadArgumentError', code: 'LM_ERR_BAD_ARGUMENT' };

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects rate %s', (rate) => {
    expect(() => SharedRateLimiter.create(rate)).toThrow(BadArgumentError);
    expect(() => SharedRateLimiter.create(1).setRate(rate)).toThrow(BadArgumentError);
  });

  it('rejects a bad burst', () => {
    expect(() => SharedRateLimiter.create(1, { burstBytes: -1 })).toThrow(BadArgumentError);
    expect(() => SharedRateLimiter.create(1, { burstBytes: 1.5 })).toThrow(BadArgumentError);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('take rejects %s bytes', async (bytes) => {
    await expect(SharedRateLimiter.create(1_000).take(bytes)).rejects.toMatchObject(bad);
  });

  it('attach rejects a buffer that is not a limiter', () => {
    expect(() => SharedRateLimiter.attach(new SharedArrayBuffer(88))).toThrow(BadArgumentError);
    expect(() => SharedRateLimiter.attach(new SharedArrayBuffer(16))).toThrow(BadArgumentError);
    expect(() => SharedRateLimiter.attach(new ArrayBuffer(88) as unknown as SharedArrayBuffer)).toThrow(BadArgumentError);
    const limiter = SharedRateLimiter.create(5_000);
    expect(SharedRateLimiter.attach(limiter.buffer).rate).toBe(5_000);
  });

  it('take(0) resolves at once', async () => {
    const limiter = SharedRateLimiter.create(1);
    await limiter.take(DEFAULT_BURST); // the burst is spent: a take of one more byte would sleep for a second
    expect(await sleepsDuring(() => limiter.take(0))).toBe(0);
    expect(await stateOf(limiter.take(0))).toBe('resolved');
  });
});
