import { describe, expect, it } from 'vitest';
import { GuestMemory, PAGE_SIZE, PresentMap } from '@livemig/guest';

// A placer stopped between claim and publish (post-copy recovery terminates the channel threads) must not keep
// the page's later copy out forever: its claim is given back, and the re-sent copy is placed.

describe('present map: stuck claims', () => {
  it('gives back claims never published, keeps those of present pages', () => {
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const map = PresentMap.create(64, 1);
    map.startPostcopy([3, 31, 32, 40]);
    expect(map.claim(31)).toBe(true); // claimed, then the placer was stopped before publish
    expect(map.claim(40)).toBe(true);
    expect(map.place(memory, 3, new Uint8Array(PAGE_SIZE).fill(7))).toBe(true);
    expect(map.place(memory, 31, new Uint8Array(PAGE_SIZE))).toBe(false);
    expect(map.releaseStuckClaims()).toBe(2);
    expect(map.releaseStuckClaims()).toBe(0);
    expect(map.place(memory, 31, new Uint8Array(PAGE_SIZE).fill(9))).toBe(true);
    expect(map.place(memory, 3, new Uint8Array(PAGE_SIZE))).toBe(false);
    expect(memory.page(3)[0]).toBe(7);
    expect(memory.page(31)[0]).toBe(9);
    expect(map.isPresent(40)).toBe(false);
  });
});
