import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES, FrameType, PAGE_SIZE, PROTOCOL_VERSION, encodeFrame, encodeHello } from '@livemig/protocol';
import { FramedSocket, PLAINTEXT, connectTcp, type TransportSecurity } from '@livemig/agent-runtime';
import { DestAgent, type IncomingReport } from '@livemig/dest-agent';
import { waitFor } from './support/wait.js';

// The fuzz campaign's short form: generated and mutated frames through a live destination's socket. Whatever
// arrives, the agent ends the connection with a typed error (never a crash or a hang), keeps nothing reserved,
// and still serves the next real source. The seed is fixed, so a failure replays; the long form (100,000
// inputs) is for `bench`, not `npm test`.
const SEED = 15_2026;
const RUNS = 1000;
const KEY = randomBytes(32).toString('hex');
/** Plain TCP, and an authenticated peer that sends garbage inside TLS (the destination's side, then the source's). */
const CASES: { name: string; server: TransportSecurity; client: TransportSecurity; runs: number }[] = [
  { name: 'plain TCP', server: PLAINTEXT, client: PLAINTEXT, runs: RUNS },
  { name: 'TLS (PSK), from an authenticated peer', server: { kind: 'psk', keys: { fuzz: KEY } }, client: { kind: 'psk', identity: 'fuzz', keys: { fuzz: KEY } }, runs: RUNS / 4 },
];
const LIMIT_BYTES = 64 * 1024 * 1024;

function hello(channels = 1): Buffer {
  return encodeHello({
    protocolVersion: PROTOCOL_VERSION,
    capabilities: [...CAPABILITIES],
    guestId: 'fuzz',
    migrationId: `fuzz-${Math.random()}`,
    geometry: { pageSize: PAGE_SIZE, memoryBytes: 16 * PAGE_SIZE, slotBytes: 16 * PAGE_SIZE, vcpus: 1 },
    workload: { name: 'idle', seed: 1, ops: 0, params: {} },
    channels,
  });
}

const FRAME_TYPES = Object.values(FrameType);

/** Inputs: random bytes; a Hello with bytes flipped and cut; any frame type around a random payload (valid CRC). */
const inputs = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
  fc
    .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
    .map(([flips, cut]) => {
      const bytes = Buffer.from(hello());
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      return bytes.subarray(0, bytes.length - (cut % 4 === 0 ? cut % bytes.length : 0));
    }),
  fc
    .tuple(fc.constantFrom(...FRAME_TYPES), fc.uint8Array({ maxLength: 2048 }))
    .map(([type, payload]) => encodeFrame(type, payload)),
);

describe.each(CASES)('fuzz: malformed frames through a live destination, $name', ({ server, client, runs }) => {
  const agent = new DestAgent({
    maxMemoryBytes: LIMIT_BYTES,
    warmChannels: 1,
    warmVcpus: 1,
    idleTimeoutMs: 2_000,
    helloTimeoutMs: 2_000,
    preAuthTimeoutMs: 2_000,
    security: server,
  });
  let address: { host: string; port: number };
  const failures: IncomingReport[] = [];
  beforeAll(async () => {
    address = await agent.listen(0);
    agent.on('failed', (report) => failures.push(report));
  });
  afterAll(() => agent.close());
  const open = (): Promise<Socket> => connectTcp(address, 30_000, client);

  it(`ends every connection with a typed error and keeps serving (${runs} inputs, seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(inputs, async (bytes) => {
        const socket = await open();
        socket.on('error', () => {});
        socket.resume();
        const closed = new Promise((resolve) => socket.once('close', resolve));
        socket.end(bytes);
        await closed;
      }),
      { seed: SEED, numRuns: runs },
    );
    // Everything the inputs reserved is given back, and every recorded failure has a code of ours.
    await waitFor(() => agent.reservations.freeBytes === LIMIT_BYTES && agent.incoming().every((report) => report.status === 'failed'), {
      what: 'every fuzzed migration ended and released',
    });
    for (const report of failures) expect(report.error?.code).toMatch(/^LM_ERR_[A-Z_]+$/);
    // A real source is still served.
    const conn = new FramedSocket(await open());
    await conn.send(hello());
    expect((await conn.receive(30_000, 'Accept')).type).toBe(FrameType.Accept);
    conn.destroy();
  });
});
