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
});
