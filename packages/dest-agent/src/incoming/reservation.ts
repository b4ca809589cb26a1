import { PageChecksums, RefusedError, encodeAccept, type HelloMessage } from '@livemig/protocol';
import { Guest, GuestMemory, type SlotAllocator, type WorkloadSpec } from '@livemig/guest';
import type { VcpuPool } from '../vcpu-pool.js';
import { formatBytes, type FramedSocket } from '@livemig/agent-runtime';
import { ChannelReceivers } from '../channel-receivers.js';
import type { ReceiverPool } from '../receiver-pool.js';
import type { MemoryReservations, Reservation } from '../reservations.js';
import { agreedCapabilities } from './handshake.js';

/**
 * The reservation: the guest's memory out of what `--max-memory` leaves, or the refusal that names how
 * much is free.
 */
export function reserveMemory(reservations: MemoryReservations, memoryBytes: number): Reservation | RefusedError {
  const reservation = reservations.tryReserve(memoryBytes);
  if (reservation) return reservation;
  return new RefusedError(
    `guest needs ${formatBytes(memoryBytes)}, this agent has ${formatBytes(reservations.freeBytes)} free of ${formatBytes(reservations.limitBytes)} (--max-memory)`,
  );
}

/** The image being rebuilt here: guest memory, its page checksum table, and the channels that fill both. */
export interface IncomingImage {
  memory: GuestMemory;
  checksums: PageChecksums;
  channels: ChannelReceivers;
}

export interface OpenChannelsOptions {
  pool: ReceiverPool;
  allocateSlot: SlotAllocator;
  hello: HelloMessage;
  reservation: Reservation;
  idleTimeoutMs: number;
}

/**
 * Guest memory for the reserved geometry (fresh, or pre-faulted slots that fit), and one pooled channel thread per data channel the source asked
 * for, assigned to the reservation (their ports go in Accept).
 * @throws GuestError when the geometry cannot be laid out in memory; the pool's error when a thread fails.
 */
export async function openChannels(options: OpenChannelsOptions): Promise<IncomingImage> {
  const { geometry } = options.hello;
  const memory = GuestMemory.create(geometry.memoryBytes, geometry.slotBytes, options.allocateSlot);
  const checksums = PageChecksums.create(memory.pageCount);
  const channels = await ChannelReceivers.open({
    pool: options.pool,
    count: options.hello.channels,
    reservationId: options.reservation.id,
    memory,
    checksums,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  return { memory, checksums, channels };
}

/**
 * Accept: the reservation, the agreed capabilities and the channels' ports. From here the control connection
 * may stay silent, as page data flows on the channels, which time out on their own.
 * @throws the connection's error when Accept cannot be sent.
 */
export async function sendAccept(conn: FramedSocket, hello: HelloMessage, reservation: Reservation, channels: ChannelReceivers): Promise<void> {
  await conn.send(
    encodeAccept({ reservationId: reservation.id, capabilities: agreedCapabilities(hello), channelPorts: channels.ports }),
  );
  conn.keepAliveWhileSilent();
}

/**
 * The guest's vCPU workers, started parked from fresh registers while the pages arrive: spawning workers takes
 * tens of milliseconds, spent during pre-copy rather than the downtime. Activation loads the received CPU
 * state into them. The promise's rejection is handled here: a failure surfaces at activation.
 */
export function startParkedVcpus(vcpuPool: VcpuPool, hello: HelloMessage, memory: GuestMemory, workload: WorkloadSpec): Promise<Guest> {
  const { vcpus } = hello.geometry;
  const guest = vcpuPool.take(vcpus).then((workers) => Guest.start({ memory, vcpus, workload, paused: true, workers }));
  guest.catch(() => {});
  return guest;
}
