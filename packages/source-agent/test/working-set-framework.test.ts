import { describe, expect, it, vi } from 'vitest';
import { main } from '@livemig/source-agent';
import { GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { WorkingSetFramework } from '../src/working-set/working-set-framework.js';

function access(memory: GuestMemory, ...pages: number[]): void {
  for (const p of pages) Atomics.or(memory.accessedBitmap, p >>> 5, 1 << (p & 31));
}

describe('WorkingSetFramework: rounds skip the working set, stop-and-copy sends what they deferred', () => {
  it('defers working-set pages, releases them into a round once they leave the working set, and sends the rest at the stop', () => {
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const ws = new WorkingSetFramework(memory, 2);
    access(memory, 1, 2);
    expect([...ws.pushRound(Uint32Array.of(0, 1, 2, 3), true)]).toEqual([0, 3]);
    expect(ws.deferredCount).toBe(2);
    // 4 and 5 push 1 and 2 out of the working set: they go in the next round although nobody dirtied them.
    access(memory, 4, 5);
    expect([...ws.pushRound(Uint32Array.of(6))]).toEqual([1, 2, 6]);
    expect(ws.deferredCount).toBe(0);
    // 4 is dirtied while in the working set: deferred; at the stop it is dirty again (a resend saved).
    expect([...ws.pushRound(Uint32Array.of(4))]).toEqual([]);
    access(memory, 5);
    expect([...ws.pushRound(Uint32Array.of(5, 9))]).toEqual([9]);
    expect([...ws.stopRound(Uint32Array.of(4, 7))]).toEqual([4, 5, 7]);
    expect(ws.report()).toMatchObject({
      capacityPages: 2,
      sizePages: 2,
      firstRoundDeferred: 2,
      deferrals: 4,
      pagesDeferred: 2,
      deferredDirtyAtStop: 1,
      deferredRedirtied: 1,
      releasedPages: 2,
    });
  });

  it('the preprocessing phase forgets earlier accesses and samples for its duration', async () => {
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const ws = new WorkingSetFramework(memory, 8);
    access(memory, 10, 11);
    let waits = 0;
    await ws.preprocess(250, async () => {
      waits++;
      access(memory, 3);
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    ws.stop();
    expect(waits).toBeGreaterThanOrEqual(3);
    expect([...ws.lru.workingSet()]).toEqual([3]);
    expect(ws.report().preprocessMs).toBeGreaterThanOrEqual(250);
  });
});

describe('source-agent run --working-set', () => {
  it.each([
    [['--working-set', '256'], '--working-set'],
    [['--working-set', '-1'], '--working-set'],
    [['--working-set', '8', '--ws-preprocess', 'later'], '--ws-preprocess'],
  ])('%j on a 1 MiB guest: one line naming %s, exit 2', async (flags, names) => {
    let err = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
    try {
      expect(await main(['run', '--memory', '1MiB', '--workload', 'idle', ...flags])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toContain(names);
  });
});
