import type { Socket } from 'node:net';
import { FramedSocket, connectTcp, type TransportSecurity } from '@livemig/agent-runtime';
import { FrameType, encodeChannelHello, type AcceptMessage } from '@livemig/protocol';
import { MAX_FINDINGS, type FuzzFinding } from './fuzz-decoder.js';
import type { FuzzedDestination } from './fuzz-destination.js';
import { BLOCK_INPUTS, channelTraffic, fuzzHello, sampleBlock, streamInput, strangerChannelInput } from './fuzz-inputs.js';

/** Every fuzzed connection must be closed by the destination within this long after its input was sent. */
export const CONNECTION_BOUND_MS = 20_000;
const CONNECT_TIMEOUT_MS = 30_000;
/** Connections in flight at once: under the main port's cap of 32 opening connections. */
const CONCURRENCY = 8;
/** Stranger inputs sent to a reservation's data ports before the real channel's fuzzed traffic ends it. */
const STRANGERS_PER_RESERVATION = 19;

/** What happened to the connections of one kind (main port, data ports) of one target. */
export interface SocketTally {
  inputs: number;
  /** Closed by the destination within CONNECTION_BOUND_MS of the input. */
  ended: number;
  /** Still open after the bound (then destroyed by us): hangs. */
  hung: number;
  /** The connection or its TLS handshake failed before the input could be sent. */
  connectFailed: number;
  maxEndMs: number;
}

export interface LiveFuzzCounts {
  mainPort: SocketTally;
  dataPorts: SocketTally;
  reservations: number;
  /** Reservations whose control connection the destination had not ended within the bound after the fuzzed channel. */
  controlHangs: number;
  findings: FuzzFinding[];
}

function tally(): SocketTally {
  return { inputs: 0, ended: 0, hung: 0, connectFailed: 0, maxEndMs: 0 };
}

/**
 * Sends `bytes` on a fresh connection (TLS when `security` says so), half-closes, and waits for the destination
 * to close its side. Resolves with how long that took, or null when it did not within the bound.
 */
async function sendAndWait(address: { host: string; port: number }, security: TransportSecurity, bytes: Buffer, into: SocketTally): Promise<number | null | 'connect-failed'> {
  into.inputs++;
  let socket: Socket;
  try {
    socket = await connectTcp(address, CONNECT_TIMEOUT_MS, security);
  } catch {
    into.connectFailed++;
    return 'connect-failed';
  }
  return endsWithin(socket, bytes, into);
}

async function endsWithin(socket: Socket, bytes: Buffer, into: SocketTally): Promise<number | null> {
  socket.on('error', () => {});
  socket.resume();
  const started = performance.now();
  const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CONNECTION_BOUND_MS);
  });
  socket.end(bytes);
  const ended = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (!ended) {
    into.hung++;
    socket.destroy();
    return null;
  }
  const ms = performance.now() - started;
  into.ended++;
  into.maxEndMs = Math.max(into.maxEndMs, ms);
  return ms;
}

/** Runs `work` over `items` with CONCURRENCY in flight. */
async function pool<T>(items: T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

/**
 * The destination's main port: `inputs` streams (streamInput), one connection each, CONCURRENCY at a time.
 * `seed` is this target's: block b of its inputs is sampled from `seed + b`.
 */
export async function fuzzMainPort(dest: FuzzedDestination, security: TransportSecurity, seed: number, inputs: number, counts: LiveFuzzCounts, target: string): Promise<void> {
  for (let block = 0; counts.mainPort.inputs < inputs && dest.alive; block++) {
    const batch = sampleBlock(streamInput, seed, block).slice(0, inputs - counts.mainPort.inputs);
    await pool(batch, async (bytes, index) => {
      const outcome = await sendAndWait(dest.address, security, bytes, counts.mainPort);
      if (outcome === null) note(counts, { target: `${target} main port`, seed, block, index, problem: `not closed within ${CONNECTION_BOUND_MS} ms`, head: bytes.subarray(0, 64).toString('hex'), bytes: bytes.length });
    });
  }
}

/**
 * The data ports after a real reservation: a Hello for two channels, Accept, then STRANGERS_PER_RESERVATION
 * stranger inputs to its data ports (each must be closed; the reservation stays), then the real channel 0's
 * ChannelHello followed by fuzzed rounds, which ends the migration; its control connection must be ended too.
 * Repeats until `inputs` data-port connections have been made. Strangers use seed `seed`, channel traffic
 * `seed + 1_000_000`.
 */
export async function fuzzDataPorts(dest: FuzzedDestination, security: TransportSecurity, seed: number, inputs: number, counts: LiveFuzzCounts, target: string): Promise<void> {
  const strangers = new InputBlocks(strangerChannelInput, seed);
  const traffic = new InputBlocks(channelTraffic, seed + 1_000_000);
  for (let round = 0; counts.dataPorts.inputs < inputs && dest.alive; round++) {
    const control = await reserve(dest, security, `fuzz-data-${seed}-${round}`);
    counts.reservations++;
    const accept = control.accept;
    const wanted = Math.max(0, Math.min(STRANGERS_PER_RESERVATION, inputs - counts.dataPorts.inputs - 1));
    const first = round * STRANGERS_PER_RESERVATION;
    await pool(Array.from({ length: wanted }, (_, i) => first + i), async (k) => {
      const bytes = strangers.input(k);
      const port = accept.channelPorts[k % accept.channelPorts.length]!;
      const outcome = await sendAndWait({ host: dest.address.host, port }, security, bytes, counts.dataPorts);
      if (outcome === null) note(counts, { target: `${target} data port (stranger)`, ...strangers.replay(k), problem: `not closed within ${CONNECTION_BOUND_MS} ms`, head: bytes.subarray(0, 64).toString('hex'), bytes: bytes.length });
    });
    const rounds = traffic.input(round);
    const input = Buffer.concat([encodeChannelHello({ reservationId: accept.reservationId, channel: 0 }), rounds]);
    const outcome = await sendAndWait({ host: dest.address.host, port: accept.channelPorts[0]! }, security, input, counts.dataPorts);
    const replay = { ...traffic.replay(round), head: rounds.subarray(0, 64).toString('hex'), bytes: rounds.length };
    if (outcome === null) note(counts, { target: `${target} data channel after ChannelHello`, ...replay, problem: `not closed within ${CONNECTION_BOUND_MS} ms` });
    if (!(await controlEnds(control.conn))) {
      counts.controlHangs++;
      note(counts, { target: `${target} control connection`, ...replay, problem: `the migration was not ended within ${CONNECTION_BOUND_MS} ms after its data channel's fuzzed traffic` });
    }
  }
}

/** A Hello for two channels of the fuzz guest and the destination's Accept; retried while it refuses (busy). */
async function reserve(dest: FuzzedDestination, security: TransportSecurity, migrationId: string): Promise<{ conn: FramedSocket; accept: AcceptMessage }> {
  for (let attempt = 1; ; attempt++) {
    const conn = new FramedSocket(await connectTcp(dest.address, CONNECT_TIMEOUT_MS, security));
    await conn.send(fuzzHello(`${migrationId}-${attempt}`, 2));
    const frame = await conn.receive(CONNECT_TIMEOUT_MS, 'Accept');
    if (frame.type === FrameType.Accept) return { conn, accept: frame.message };
    conn.destroy();
    if (attempt >= 20) throw new Error(`the destination refused 20 real reservations in a row: ${JSON.stringify(frame)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Whether the destination ends the control connection (Abort, or a close) within the bound. */
async function controlEnds(conn: FramedSocket): Promise<boolean> {
  try {
    for (;;) await conn.receive(CONNECTION_BOUND_MS, 'the end of the migration');
  } catch (error) {
    return (error as { code?: string }).code !== 'LM_ERR_TIMEOUT';
  } finally {
    conn.destroy();
  }
}

/** Input k of a run seeded `seed`, sampled a block at a time (the last block is kept). */
class InputBlocks {
  #block = -1;
  #inputs: Buffer[] = [];
  constructor(
    readonly arbitrary: Parameters<typeof sampleBlock<Buffer>>[0],
    readonly seed: number,
  ) {}

  input(k: number): Buffer {
    const block = Math.floor(k / BLOCK_INPUTS);
    if (block !== this.#block) [this.#block, this.#inputs] = [block, sampleBlock(this.arbitrary, this.seed, block)];
    return this.#inputs[k % BLOCK_INPUTS]!;
  }

  replay(k: number): { seed: number; block: number; index: number } {
    return { seed: this.seed, block: Math.floor(k / BLOCK_INPUTS), index: k % BLOCK_INPUTS };
  }
}

function note(counts: LiveFuzzCounts, finding: FuzzFinding): void {
  if (counts.findings.length < MAX_FINDINGS) counts.findings.push(finding);
}

export function emptyCounts(): LiveFuzzCounts {
  return { mainPort: tally(), dataPorts: tally(), reservations: 0, controlHangs: 0, findings: [] };
}
