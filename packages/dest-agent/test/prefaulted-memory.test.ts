import { describe, expect, it } from 'vitest';
import { DEFAULT_SLOT_BYTES, GuestMemory } from '@livemig/guest';
import { PrefaultedMemory } from '@livemig/dest-agent';

const MiB = 1024 * 1024;

describe('PrefaultedMemory', () => {
  it('hands out its slots once, all zero, to a guest whose slots have their size; other sizes get fresh slots', async () => {
    const prefaulted = new PrefaultedMemory(8 * MiB);
    await prefaulted.ready;
    expect(prefaulted.bytes).toBe(8 * MiB);

    const other = GuestMemory.create(4 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(prefaulted.bytes).toBe(8 * MiB);
    expect(other.slots[0]!.length).toBe(4 * MiB);

    const memory = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(prefaulted.bytes).toBe(0);
    expect(memory.slots[0]!.every((byte) => byte === 0)).toBe(true);

    const again = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(again.slots[0]!.buffer).not.toBe(memory.slots[0]!.buffer);
  });

  it("takes back a departed guest's slots zeroed, up to its size, and hands them to the next guest", async () => {
    const prefaulted = new PrefaultedMemory(8 * MiB);
    await prefaulted.ready;
    const first = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(prefaulted.bytes).toBe(0);
    first.slots[0]!.fill(0x5a, 0, 3 * MiB);
    first.slots[0]![8 * MiB - 1] = 7;

    expect(await prefaulted.recycle(first.slots.map((slot) => slot.buffer as SharedArrayBuffer))).toBe(8 * MiB);
    expect(prefaulted.bytes).toBe(8 * MiB);
    const next = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(next.slots[0]!.every((byte) => byte === 0)).toBe(true);
    // The same memory (a SharedArrayBuffer posted back from the zeroing worker is a new object over it).
    next.slots[0]![5] = 9;
    expect(first.slots[0]![5]).toBe(9);
    next.slots[0]![5] = 0;

    // Never more than its size: a second guest's slots do not fit while the first's are back.
    await prefaulted.recycle(next.slots.map((slot) => slot.buffer as SharedArrayBuffer));
    const stranger = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES);
    expect(await prefaulted.recycle(stranger.slots.map((slot) => slot.buffer as SharedArrayBuffer))).toBe(0);
    expect(prefaulted.bytes).toBe(8 * MiB);
    await prefaulted.close();
  });

  it('counts slots still being zeroed against its size: two guests leaving together keep SIZE between them', async () => {
    const prefaulted = new PrefaultedMemory(8 * MiB);
    await prefaulted.ready;
    const first = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    const second = GuestMemory.create(8 * MiB, DEFAULT_SLOT_BYTES);
    const kept = await Promise.all([first, second].map((memory) => prefaulted.recycle(memory.slots.map((slot) => slot.buffer as SharedArrayBuffer))));
    expect(kept).toEqual([8 * MiB, 0]);
    expect(prefaulted.bytes).toBe(8 * MiB);
    await prefaulted.close();
  });

  it('keeps nothing without --prefault', async () => {
    const prefaulted = new PrefaultedMemory(0);
    const memory = GuestMemory.create(4 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(await prefaulted.recycle(memory.slots.map((slot) => slot.buffer as SharedArrayBuffer))).toBe(0);
    expect(prefaulted.bytes).toBe(0);
    const again = GuestMemory.create(4 * MiB, DEFAULT_SLOT_BYTES, prefaulted.allocate);
    expect(again.slots[0]!.buffer).not.toBe(memory.slots[0]!.buffer);
  });
});
