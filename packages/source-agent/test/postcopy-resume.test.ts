import { describe, expect, it } from 'vitest';
import { PushOrder } from '../src/postcopy/push-order.js';
import { RESUME_RETRY_FIRST_MS, RESUME_RETRY_MAX_MS, ResumeRequests, resumeBackoffMs } from '../src/postcopy/resume-requests.js';

// What a paused post-copy keeps and how it learns where to reconnect: pages lost in flight go back into the
// push, the operator's resume or the automatic timer gives the target, the discard ends every wait.

const TARGET = { host: '127.0.0.1', port: 7000 };

describe('post-copy recovery at the source', () => {
  it('requeue puts a page sent but never placed back into the push, once; an unsent page is unchanged', () => {
    const order = new PushOrder(64, [1, 2, 3, 40], { policy: 'linear', pivots: 1 });
    expect(order.next()).toEqual([1, 2, 3, 40]);
    expect(order.remaining).toBe(0);
    expect(order.requeue(2)).toBe(true);
    expect(order.requeue(2)).toBe(false);
    expect(order.requeue(40)).toBe(true);
    expect(order.remaining).toBe(2);
    expect(order.next()).toEqual([2, 40]);
    // A requeued page that is then requested is answered (it is unsent again), not skipped as pushed.
    order.requeue(3);
    expect(order.request(3)).toBe(true);
    expect(() => order.requeue(64)).toThrow(RangeError);
  });

  it("the operator's resume hands its target to the waiting migration; none waiting: refused", async () => {
    const requests = new ResumeRequests();
    expect(requests.resume(TARGET)).toBe(false);
    const next = requests.next();
    expect(requests.waiting).toBe(true);
    expect(requests.resume(TARGET)).toBe(true);
    await expect(next).resolves.toEqual(TARGET);
    expect(requests.waiting).toBe(false);
  });

  it('an automatic attempt comes by itself after its delay, unless the operator is first', async () => {
    const requests = new ResumeRequests();
    await expect(requests.next({ target: TARGET, delayMs: 1 })).resolves.toEqual(TARGET);
    const operator = { host: '127.0.0.1', port: 7001 };
    const next = requests.next({ target: TARGET, delayMs: 60_000 });
    requests.resume(operator);
    await expect(next).resolves.toEqual(operator);
  });

  it('discard ends the wait in progress and every later one', async () => {
    const requests = new ResumeRequests();
    const next = requests.next();
    requests.discard(new Error('discarded'));
    await expect(next).rejects.toThrow('discarded');
    await expect(requests.next({ target: TARGET, delayMs: 1 })).rejects.toThrow('discarded');
  });

  it('the backoff doubles from its first delay and stays bounded', () => {
    expect(resumeBackoffMs(0)).toBe(RESUME_RETRY_FIRST_MS);
    expect(resumeBackoffMs(1)).toBe(2 * RESUME_RETRY_FIRST_MS);
    expect(resumeBackoffMs(100)).toBe(RESUME_RETRY_MAX_MS);
  });
});
