import { ThreadPool } from '@livemig/agent-runtime';
import type { ReceiverEvent, ReceiverSpawnData } from './channel-messages.js';

/**
 * Young generation of a channel thread, in MiB; 3 is V8's floor (two 1 MiB semi-spaces: 1 and 2 give the same).
 * A channel thread's garbage is mostly the socket's read chunks (up to 64 KiB each, outside the V8 heap). They
 * are freed only when a scavenge finds their Buffers dead, and scavenges come as the young generation fills.
 * V8's default grows the young generation while the thread allocates, and between scavenges the dead chunks
 * piled up to tens of MiB per channel (docs/PERFORMANCE.md, "Destination memory").
 */
const CHANNEL_YOUNG_GENERATION_MB = 3;

/** A receiver worker's greeting: its code is loaded and it listens on `port`. */
export type ReceiverGreeting = Extract<ReceiverEvent, { type: 'online' }>;

/**
 * Idle receiver workers for the data channels of the next incoming migration. Each listens on a port of its
 * own from the moment it is online, so a reservation hands out ports without waiting for any thread
 * (ChannelReceivers.open takes them with takeExactly).
 */
export class ReceiverPool extends ThreadPool<ReceiverGreeting> {
  constructor(size: number, spawnData: ReceiverSpawnData) {
    super(new URL('./channel-receiver-worker.js', import.meta.url), size, {
      workerData: spawnData,
      resourceLimits: { maxYoungGenerationSizeMb: CHANNEL_YOUNG_GENERATION_MB },
    });
  }
}
