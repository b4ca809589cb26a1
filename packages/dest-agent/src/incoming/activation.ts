import { encodeActivated } from '@livemig/protocol';
import type { Guest } from '@livemig/guest';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ReceivedState } from './receive.js';

export interface Activated {
  guest: Guest;
  /** Time to start the vCPUs from the received CPU state, in ms to 0.1. */
  activationMs: number;
}

/**
 * Activation: the committed guest's parked vCPUs (started during the reservation) continue from the received
 * registers. A guest that was paused at the source stays paused here.
 * @throws the vCPUs' start error, or GuestError when the registers cannot be loaded.
 */
export async function activateGuest(vcpus: Promise<Guest>, received: ReceivedState): Promise<Activated> {
  const start = performance.now();
  const guest = await vcpus;
  guest.loadCpuState(received.cpuState);
  if (received.running) guest.resume();
  return { guest, activationMs: Math.round((performance.now() - start) * 10) / 10 };
}

/** Activated, then a graceful close. Never throws: the source already let go at Committed; the notice only times its downtime. */
export async function sendActivated(conn: FramedSocket): Promise<void> {
  try {
    await conn.send(encodeActivated({ activatedAtMs: Date.now() }));
  } catch {
    // the source already let go at Committed
  }
  conn.close();
}
