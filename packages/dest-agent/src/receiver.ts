import {
  BadMessageError,
  DigestMismatchError,
  FrameType,
  HandshakeError,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  PageEncoding,
  RefusedError,
  UnexpectedFrameError,
  encodeAccept,
  encodeCommitted,
  encodeRefuse,
  frameTypeName,
  readPageBatch,
  type HelloMessage,
  MigrationError,
} from '@livemig/protocol';
import { Guest, GuestError, GuestMemory, parseWorkloadSpec, validateCpuState, type CpuState, type WorkloadName, type WorkloadSpec } from '@livemig/guest';
import { CAPABILITY_PAGES, PageChecksums, formatBytes, type FramedSocket, type Logger } from '@livemig/source-agent';
import type { MemoryReservations, Reservation } from './reservations.js';

export interface ReceiverOptions {
  reservations: MemoryReservations;
  /** When set, a Hello without this token is refused. */
  token?: string;
  log: Logger;
  helloTimeoutMs?: number;
}

export interface ReceivedGuest {
  hello: HelloMessage;
  workload: WorkloadSpec;
  memory: GuestMemory;
  cpuState: CpuState;
  /** vCPU workers started parked, from fresh registers, while the pages arrived; activation loads cpuState. */
  vcpus: Promise<Guest>;
  reservation: Reservation;
  receivedDigest: string;
  rounds: number;
  pagesReceived: number;
}

/** Progress of an incoming migration, readable while it runs and after it failed. */
export interface ReceiveProgress {
  hello: HelloMessage | null;
  rounds: number;
  pagesReceived: number;
}

/**
 * Receives one guest: handshake and reservation, pre-copy rounds, stop-and-copy, CPU state; verifies the
 * rebuilt image against the source's digest and commits (sends Committed). Resolves after the commit.
 * On any failure it tells the source why (Abort, or Refuse during the handshake), releases the reservation
 * and throws the typed error; nothing of the guest is kept.
 */
export async function receiveGuest(
  conn: FramedSocket,
  options: ReceiverOptions,
  progress: ReceiveProgress = { hello: null, rounds: 0, pagesReceived: 0 },
): Promise<ReceivedGuest> {
  const { log } = options;
  let reservation: Reservation | undefined;
  let vcpus: Promise<Guest> | undefined;
  try {
    const first = await conn.receive(options.helloTimeoutMs ?? 15_000, 'Hello');
    if (first.type !== FrameType.Hello) {
      throw new UnexpectedFrameError(`expected Hello to open the migration, got ${frameTypeName(first.type)}`);
    }
    const hello = first.message;
    progress.hello = hello;
    const refusal = checkHello(hello, options);
    if (refusal) {
      await conn.send(encodeRefuse({ code: refusal.code, message: refusal.message }));
      conn.close();
      throw refusal;
    }
    const workload = parseWorkloadSpec({ ...hello.workload, name: hello.workload.name as WorkloadName });
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
    await conn.send(encodeAccept({ reservationId: reservation.id, capabilities: [CAPABILITY_PAGES] }));
    // Spawning workers takes tens of milliseconds; do it while pre-copy runs, not during the downtime.
    vcpus = Guest.start({ memory, vcpus: hello.geometry.vcpus, workload, paused: true });
    vcpus.catch(() => {}); // a failure surfaces at activation
    log.info(
      { guestId: hello.guestId, memory: formatBytes(hello.geometry.memoryBytes), vcpus: hello.geometry.vcpus, workload: workload.name },
      'guest reserved, receiving',
    );

    const checksums = new PageChecksums(memory.pageCount);
    const sink = { pageCount: memory.pageCount, page: (index: number) => memory.page(index) };
    const onPage = (index: number, encoding: PageEncoding): void => {
      if (encoding === PageEncoding.Zero) {
        checksums.recordZero(index);
      } else {
        checksums.record(index, memory.page(index));
        memory.markTouched(index);
      }
    };
    let openRound = 0;
    let cpuState: CpuState | undefined;
    for (;;) {
      const frame = await conn.receive(undefined, 'pages');
      switch (frame.type) {
        case FrameType.RoundBegin:
          if (openRound !== 0 || frame.message.round !== progress.rounds + 1) {
            throw new UnexpectedFrameError(`round ${frame.message.round} began out of order after round ${progress.rounds}`);
          }
          openRound = frame.message.round;
          break;
        case FrameType.PageBatch:
          if (openRound === 0) throw new UnexpectedFrameError('page batch outside a round');
          progress.pagesReceived += readPageBatch(frame.payload, sink, onPage);
          break;
        case FrameType.RoundEnd:
          if (frame.message.round !== openRound) {
            throw new UnexpectedFrameError(`round ${frame.message.round} ended while round ${openRound} was open`);
          }
          openRound = 0;
          progress.rounds += 1;
          break;
        case FrameType.CpuState:
          try {
            validateCpuState(frame.message.registers, hello.geometry.vcpus, memory.pageCount);
          } catch (error) {
            throw new BadMessageError(`CPU state rejected: ${(error as Error).message}`, { cause: error });
          }
          cpuState = frame.message.registers;
          break;
        case FrameType.Complete: {
          if (!cpuState || openRound !== 0) {
            throw new UnexpectedFrameError('Complete before the CPU state and the last round');
          }
          const receivedDigest = checksums.digest(cpuState);
          if (receivedDigest !== frame.message.digest) {
            throw new DigestMismatchError(`rebuilt image digest ${receivedDigest} differs from the source's ${frame.message.digest}`);
          }
          // Commit point: from here the destination owns the guest.
          await conn.send(encodeCommitted({ digest: receivedDigest }));
          return {
            hello,
            workload,
            memory,
            cpuState,
            vcpus,
            reservation,
            receivedDigest,
            rounds: progress.rounds,
            pagesReceived: progress.pagesReceived,
          };
        }
        default:
          throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} while receiving pages`);
      }
    }
  } catch (error) {
    reservation?.release();
    void vcpus?.then((guest) => guest.stop(), () => {});
    const typed = error instanceof GuestError ? new BadMessageError(error.message, { cause: error }) : error;
    conn.abort(typed instanceof Error ? typed : new Error(String(typed)));
    throw typed;
  }
}

function checkHello(hello: HelloMessage, options: ReceiverOptions): MigrationError | undefined {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return new HandshakeError(`source speaks protocol version ${hello.protocolVersion}, this agent ${PROTOCOL_VERSION}`);
  }
  if (options.token !== undefined && hello.token !== options.token) {
    return new HandshakeError('authentication failed: wrong or missing token');
  }
  if (hello.geometry.pageSize !== PAGE_SIZE) {
    return new HandshakeError(`page size ${hello.geometry.pageSize} is not supported (only ${PAGE_SIZE})`);
  }
  if (!hello.capabilities.includes(CAPABILITY_PAGES)) {
    return new HandshakeError(`source lacks capability ${CAPABILITY_PAGES}`);
  }
  try {
    parseWorkloadSpec({ ...hello.workload, name: hello.workload.name as WorkloadName });
  } catch (error) {
    return new HandshakeError(`workload rejected: ${(error as Error).message}`);
  }
  return undefined;
}
