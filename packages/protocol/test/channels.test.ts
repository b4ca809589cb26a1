import { describe, expect, it } from 'vitest';
import { BadArgumentError, channelOfPage } from '@livemig/protocol';

describe('channelOfPage: (pageIndex >>> 6) % channels', () => {
  it('deals 64-page groups round-robin', () => {
    expect(channelOfPage(0, 4)).toBe(0);
    expect(channelOfPage(63, 4)).toBe(0);
    expect(channelOfPage(64, 4)).toBe(1);
    expect(channelOfPage(3 * 64 + 5, 4)).toBe(3);
    expect(channelOfPage(4 * 64, 4)).toBe(0);
    expect(channelOfPage(0xffffffff, 16)).toBe((0xffffffff >>> 6) % 16);
    expect(channelOfPage(0xffffffff, 3)).toBe((0xffffffff >>> 6) % 3);
  });

  it('one channel carries everything', () => {
    for (const page of [0, 1, 64, 12345, 0xffffffff]) expect(channelOfPage(page, 1)).toBe(0);
  });

  it('spreads pages evenly', () => {
    const counts = new Array<number>(5).fill(0);
    for (let page = 0; page < 64 * 5 * 10; page++) counts[channelOfPage(page, 5)]! += 1;
    expect(counts).toEqual([640, 640, 640, 640, 640]);
  });

  it('rejects a page index that is not a u32 and a channel count outside 1..16', () => {
    expect(() => channelOfPage(-1, 2)).toThrow(BadArgumentError);
    expect(() => channelOfPage(2 ** 32, 2)).toThrow(BadArgumentError);
    expect(() => channelOfPage(1.5, 2)).toThrow(BadArgumentError);
    expect(() => channelOfPage(1, 0)).toThrow(BadArgumentError);
    expect(() => channelOfPage(1, 17)).toThrow(BadArgumentError);
  });
});
