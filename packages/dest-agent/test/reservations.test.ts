import { describe, expect, it } from 'vitest';
import { MemoryReservations } from '@livemig/dest-agent';

const MiB = 1024 * 1024;

describe('MemoryReservations', () => {
  it('reserves while the guest fits, and counts what is left free', () => {
    const reservations = new MemoryReservations(256 * MiB);
    expect(reservations.freeBytes).toBe(256 * MiB);
    const first = reservations.tryReserve(100 * MiB);
    expect(first?.bytes).toBe(100 * MiB);
    expect(reservations.freeBytes).toBe(156 * MiB);
    const second = reservations.tryReserve(156 * MiB);
    expect(second?.bytes).toBe(156 * MiB);
    expect(reservations.freeBytes).toBe(0);
    expect(reservations.limitBytes).toBe(256 * MiB);
  });

  it('gives every reservation an id of its own', () => {
    const reservations = new MemoryReservations(256 * MiB);
    const a = reservations.tryReserve(MiB);
    const b = reservations.tryReserve(MiB);
    expect(a?.id).toBeTruthy();
    expect(b?.id).toBeTruthy();
    expect(a?.id).not.toBe(b?.id);
  });

  it('refuses a guest beyond what is free, reserving nothing', () => {
    const reservations = new MemoryReservations(256 * MiB);
    expect(reservations.tryReserve(256 * MiB + 1)).toBeUndefined();
    expect(reservations.freeBytes).toBe(256 * MiB);
    reservations.tryReserve(200 * MiB);
    expect(reservations.tryReserve(57 * MiB)).toBeUndefined();
    expect(reservations.freeBytes).toBe(56 * MiB);
  });

  it('gives the memory back on release, once however often release is called', () => {
    const reservations = new MemoryReservations(256 * MiB);
    const held = reservations.tryReserve(200 * MiB)!;
    const other = reservations.tryReserve(50 * MiB)!;
    held.release();
    expect(reservations.freeBytes).toBe(206 * MiB);
    held.release();
    held.release();
    expect(reservations.freeBytes).toBe(206 * MiB);
    other.release();
    expect(reservations.freeBytes).toBe(256 * MiB);
  });

  it('takes a guest that did not fit once another has been released', () => {
    const reservations = new MemoryReservations(256 * MiB);
    const running = reservations.tryReserve(200 * MiB)!;
    expect(reservations.tryReserve(100 * MiB)).toBeUndefined();
    running.release();
    expect(reservations.tryReserve(100 * MiB)?.bytes).toBe(100 * MiB);
  });
});

describe('MemoryReservations: threads', () => {
  it('counts the data channels and vCPUs a guest claims against the thread budget, and gives them back', () => {
    const reservations = new MemoryReservations(256 * MiB, 20);
    const held = reservations.tryReserve(MiB, 18)!;
    expect(reservations.freeThreads).toBe(2);
    // A tiny guest that claims many threads is refused, reserving nothing.
    expect(reservations.tryReserve(64 * 1024, 3)).toBeUndefined();
    expect(reservations.freeBytes).toBe(255 * MiB);
    held.release();
    expect(reservations.tryReserve(64 * 1024, 20)?.threads).toBe(20);
  });
});
