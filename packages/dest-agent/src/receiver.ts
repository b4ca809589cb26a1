import {
  BadMessageError,
  DigestMismatchError,
  FrameType,
  HandshakeError,
  PROTOCOL_VERSION,
  RefusedError,
  TimeoutError,
  UnexpectedFrameError,
  encodeAccept,
  encodeCommitted,
  encodeRefuse,
  frameTypeName,
  type HelloMessage,
  MigrationError,
  OPTIONAL_CAPABILITIES,
  PageChecksums,
  REQUIRED_CAPABILITIES,
} from '@livemig/protocol';
import { Guest, GuestError, GuestMemory, MAX_VCPUS, parseWorkloadSpec, validateCpuState, type CpuState, type WorkloadName, type WorkloadSpec } from '@livemig/guest';
import { DEFAULT_IDLE_TIMEOUT_MS, formatBytes, type FramedSocket, type Logger } from '@livemig/agent-runtime';
import { ChannelReceivers } from './channel-receivers.js';
import type { ReceiverPool } from './receiver-pool.js';
import type { MemoryReservations, Reservation } from './reservations.js';
import type { VcpuPool } from './vcpu-pool.js';

export interface ReceiverOptions {
  reservations: MemoryReservations;
  /** When set, a Hello without this token is refused. */
  token?: string;
  log: Logger;
  /** Warm receiver workers for the data channels, each listening on a port of its own. */
  pool: ReceiverPool;
  /** Warm vCPU workers for the guest. */
  vcpuPool: VcpuPool;
  helloTimeoutMs?: number;
  /** A data channel (or, before Accept, the control connection) silent for this long fails. */
  idleTimeoutMs?: number;
}

export interface ReceivedGuest {
  hello: HelloMessage;
  cpuState: CpuState;
  /** Whether the guest was running at the source; a paused guest stays paused here. */
  running: boolean;
  /** vCPU workers started parked, from fresh registers, while the pages arrived; activation loads cpuState. */
  vcpus: Promise<Guest>;
  reservation: Reservation;
  /** Stops the data-channel workers (every page is in; call once the guest is activated). */
  closeChannels: () => Promise<void>;
  receivedDigest: string;
}

/** Progress of an incoming migration, readable while it runs and after it failed. */
export interface ReceiveProgress {
  hello: HelloMessage | null;
  /** The data channels once they are open: rounds, pages and bytes received so far. */
  channels: ChannelReceivers | null;
}

/**
 * Receives one guest: handshake and reservation on the control connection, pre-copy and stop-and-copy rounds
 * on the data channels, then the CPU state; verifies the rebuilt image against the source's digest and
 * commits (sends Committed). Resolves after the commit. On any failure it tells the source why (Abort, or
 * Refuse during the handshake), releases the reservation and throws the typed error; nothing is kept.
 */
export async function receiveGuest(
  conn: FramedSocket,
  options: ReceiverOptions,
  progress: ReceiveProgress = { hello: null, channels: null },
): Promise<ReceivedGuest> {
  const { log } = options;
  let reservation: Reservation | undefined;
  let vcpus: Promise<Guest> | undefined;
  let channels: ChannelReceivers | undefined;
  try {
    const first = await conn.receive(options.helloTimeoutMs ?? 30_000, 'Hello');
    if (first.type !== FrameType.Hello) {
      throw new UnexpectedFrameError(`expected Hello to open the migration, got ${frameTypeName(first.type)}`);
    }
    const hello = first.message;
    progress.hello = hello;
    const checked = checkHello(hello, options);
    if (checked instanceof MigrationError) {
      const refusal = checked;
      await conn.send(encodeRefuse({ code: refusal.code, message: refusal.message }));
      conn.close();
      throw refusal;
    }
    const workload = checked;
    reservation = options.reservations.tryReserve(hello.geometry.memoryBytes);
    if (!reservation) {
      const refusal = new RefusedError(
        `guest needs ${formatBytes(hello.geometry.memoryBytes)}, this agent has ${formatBytes(options.reservations.freeBytes)} free of ${formatBytes(options.reservations.limitBytes)} (--max-memory)`,
      );
      await conn.send(encodeRefuse({ code: refusal.code, message: refusal.message }));
      conn.close();
      throw refusal;
    }
    const memory = GuestMemory.create(hello.geometry.memoryBytes, hello.geometry.slotBytes);
    const checksums = PageChecksums.create(memory.pageCount);
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    channels = await ChannelReceivers.open({
      pool: options.pool,
      count: hello.channels,
      reservationId: reservation.id,
      memory,
      checksums,
      idleTimeoutMs,
    });
    progress.channels = channels;
    await conn.send(
      encodeAccept({ reservationId: reservation.id, capabilities: agreedCapabilities(hello), channelPorts: channels.ports }),
    );
    // Page data flows on the channels, which time out on their own; the control connection may stay silent.
    conn.keepAliveWhileSilent();
    // Spawning workers takes tens of milliseconds; do it while pre-copy runs, not during the downtime.
    vcpus = options.vcpuPool
      .take(hello.geometry.vcpus)
      .then((workers) => Guest.start({ memory, vcpus: hello.geometry.vcpus, workload, paused: true, workers }));
    vcpus.catch(() => {}); // a failure surfaces at activation
    log.info(
      { guestId: hello.guestId, memory: formatBytes(hello.geometry.memoryBytes), vcpus: hello.geometry.vcpus, workload: workload.name, channels: channels.ports },
      'guest reserved, receiving',
    );

    let cpuState: CpuState | undefined;
    let running = true;
    for (;;) {
      const frame = await Promise.race([conn.receive(undefined, 'CPU state or Complete'), channels.failed]);
      switch (frame.type) {
        case FrameType.CpuState:
          try {
            validateCpuState(frame.message.registers, hello.geometry.vcpus, memory.pageCount);
          } catch (error) {
            throw new BadMessageError(`CPU state rejected: ${(error as Error).message}`, { cause: error });
          }
          cpuState = frame.message.registers;
          running = frame.message.running;
          break;
        case FrameType.Complete: {
          if (!cpuState) throw new UnexpectedFrameError('Complete before the CPU state');
          // Every channel must have applied the final round before the image can be checked.
          await withTimeout(channels.untilRound(frame.message.rounds), idleTimeoutMs, 'the last round on every data channel');
          const receivedDigest = checksums.digest(cpuState);
          if (receivedDigest !== frame.message.digest) {
            throw new DigestMismatchError(`rebuilt image digest ${receivedDigest} differs from the source's ${frame.message.digest}`);
          }
          // Commit point: from here the destination owns the guest.
          await conn.send(encodeCommitted({ digest: receivedDigest }));
          const done = channels;
          return {
            // Ending worker threads costs the main thread time: done after activation, off the downtime.
            closeChannels: () => done.close(),
            hello,
            cpuState,
            running,
            vcpus,
            reservation,
            receivedDigest,
          };
        }
        default:
          throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the control connection`);
      }
    }
  } catch (error) {
    reservation?.release();
    void channels?.close();
    void vcpus?.then((guest) => guest.stop(), () => {});
    const typed = error instanceof GuestError ? new BadMessageError(error.message, { cause: error }) : error;
    conn.abort(typed instanceof Error ? typed : new Error(String(typed)));
    throw typed;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What Accept agrees to: the capabilities checkHello requires, and the optional ones the source offered. */
function agreedCapabilities(hello: HelloMessage): string[] {
  const optional = OPTIONAL_CAPABILITIES.filter((capability) => hello.capabilities.includes(capability));
  return [...REQUIRED_CAPABILITIES, ...optional];
}

/** The refusal a Hello earns, or the workload it describes, parsed. */
function checkHello(hello: HelloMessage, options: ReceiverOptions): MigrationError | WorkloadSpec {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return new HandshakeError(`source speaks protocol version ${hello.protocolVersion}, this agent ${PROTOCOL_VERSION}`);
  }
  if (options.token !== undefined && hello.token !== options.token) {
    return new HandshakeError('authentication failed: wrong or missing token');
  }
  for (const capability of REQUIRED_CAPABILITIES) {
    if (!hello.capabilities.includes(capability)) return new HandshakeError(`source lacks capability ${capability}`);
  }
  // The decoder already holds page size, channels (1..16) and vCPUs (1..256) to the protocol's limits. A guest
  // runs fewer vCPUs than the protocol allows: refused here, before anything is reserved, not at activation.
  if (hello.geometry.vcpus > MAX_VCPUS) {
    return new HandshakeError(`guest has ${hello.geometry.vcpus} vCPUs; this agent runs 1..${MAX_VCPUS}`);
  }
  try {
    return parseWorkloadSpec({ ...hello.workload, name: hello.workload.name as WorkloadName });
  } catch (error) {
    return new HandshakeError(`workload rejected: ${(error as Error).message}`);
  }
}
