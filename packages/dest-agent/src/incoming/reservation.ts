import { CAPABILITY_POSTCOPY, PageChecksums, RefusedError, encodeAccept, type HelloMessage } from '@livemig/protocol';
import { Guest, GuestMemory, PresentMap, type SlotAllocator, type WorkloadSpec } from '@livemig/guest';
import type { VcpuPool } from '../vcpu-pool.js';
import { formatBytes, markStep, type FramedSocket } from '@livemig/agent-runtime';
import { ChannelReceivers } from '../channel-receivers.js';
import type { ReceiverPool } from '../receiver-pool.js';
import type { MemoryReservations, Reservation } from '../reservations.js';
import { agreedCapabilities } from './handshake.js';

/**
 * The reservation: the guest's memory out of what `--max-memory` leaves and its threads (data channels and
 * vCPUs) out of what `--max-threads` leaves, or the refusal that names what is free.
 */
export function reserveMemory(reservations: MemoryReservations, hello: HelloMessage): Reservation | RefusedError {
  const { memoryBytes, vcpus } = hello.geometry;
  const threads = hello.channels + vcpus;
  const reservation = reservations.tryReserve(memoryBytes, threads);
  if (reservation) return reservation;
  if (threads > reservations.freeThreads) {
    return new RefusedError(
      `guest needs ${threads} threads (${hello.channels} data channels, ${vcpus} vCPUs), this agent has ${reservations.freeThreads} free of ${reservations.threadLimit} (--max-threads)`,
    );
  }
  return new RefusedError(
    `guest needs ${formatBytes(memoryBytes)}, this agent has ${formatBytes(reservations.freeBytes)} free of ${formatBytes(reservations.limitBytes)} (--max-memory)`,
  );
}

/** The image being rebuilt here: guest memory, its page checksum table, and the channels that fill both. */
export interface IncomingImage {
  memory: GuestMemory;
  checksums: PageChecksums;
  channels: ChannelReceivers;
  /** Which pages are here: all of them until a switch to post-copy. */
  present: PresentMap;
}

/** Whether the source asked for post-copy (it offers the capability only then). */
export function wantsPostcopy(hello: HelloMessage): boolean {
  return hello.capabilities.includes(CAPABILITY_POSTCOPY);
}

export interface OpenChannelsOptions {
  pool: ReceiverPool;
  allocateSlot: SlotAllocator;
  hello: HelloMessage;
  reservation: Reservation;
  idleTimeoutMs: number;
  /** The source's address: the data ports take connections from it alone. */
  sourceAddress: string;
}

/**
 * Guest memory for the reserved geometry (fresh, or pre-faulted slots that fit), and one pooled channel thread per data channel the source asked
 * for, assigned to the reservation (their ports go in Accept).
 * @throws GuestError when the geometry cannot be laid out in memory; the pool's error when a thread fails.
 */
export async function openChannels(options: OpenChannelsOptions): Promise<IncomingImage> {
  const { geometry } = options.hello;
  const memory = GuestMemory.create(geometry.memoryBytes, geometry.slotBytes, options.allocateSlot);
  markStep('D memory made');
  const checksums = PageChecksums.create(memory.pageCount);
  markStep('D page table made');
  const present = PresentMap.create(memory.pageCount, options.hello.geometry.vcpus);
  const channels = await ChannelReceivers.open({
    pool: options.pool,
    count: options.hello.channels,
    reservationId: options.reservation.id,
    memory,
    checksums,
    idleTimeoutMs: options.idleTimeoutMs,
    sourceAddress: options.sourceAddress,
    ...(wantsPostcopy(options.hello) ? { present } : {}),
  });
  return { memory, checksums, channels, present };
}

/**
 * Accept: the reservation, the agreed capabilities and the channels' ports. From here the control connection
 * may stay silent, as page data flows on the channels, which time out on their own.
 * @throws the connection's error when Accept cannot be sent.
 */
export async function sendAccept(
  conn: FramedSocket,
  hello: HelloMessage,
  reservation: Reservation,
  channels: ChannelReceivers,
  urgentPort?: number,
): Promise<void> {
  await conn.send(
    encodeAccept({
      reservationId: reservation.id,
      capabilities: agreedCapabilities(hello),
      channelPorts: channels.ports,
      ...(urgentPort === undefined ? {} : { urgentPort }),
    }),
  );
  conn.keepAliveWhileSilent();
}

/**
 * The guest's vCPU workers, started parked from fresh registers while the pages arrive: spawning workers takes
 * tens of milliseconds, spent during pre-copy rather than the downtime. Activation loads the received CPU
 * state into them. The promise's rejection is handled here: a failure surfaces at activation.
 */
export function startParkedVcpus(vcpuPool: VcpuPool, hello: HelloMessage, image: IncomingImage, workload: WorkloadSpec, disk?: string): Promise<Guest> {
  const { vcpus } = hello.geometry;
  const { memory, present } = image;
  const guest = vcpuPool
    .take(vcpus)
    .then((workers) => Guest.start({ memory, vcpus, workload, paused: true, workers, present, ...(disk === undefined ? {} : { disk }) }));
  guest.catch(() => {});
  return guest;
}
