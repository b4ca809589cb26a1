import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { once } from 'node:events';
import { CAPABILITIES, PAGE_SIZE, PROTOCOL_VERSION, encodeHello, type HelloInput } from '@livemig/protocol';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { FramedSocket } from '@livemig/agent-runtime';
import { DestAgent, type DestAgentOptions } from '@livemig/dest-agent';
import { afterAll, beforeAll } from 'vitest';

/** The test guest: 64 pages, 1 vCPU, the idle workload (it never writes a page). */
export const PAGES = 64;
export const WORKLOAD = parseWorkloadSpec({ name: 'idle', seed: 1, ops: 0, params: {} });

/** A Hello a destination serves, with `changes` applied; each carries a fresh migration id (an id is one attempt). */
export function hello(changes: Partial<HelloInput> = {}): Buffer {
  return encodeHello({
    protocolVersion: PROTOCOL_VERSION,
    capabilities: [...CAPABILITIES],
    guestId: 'incoming-test',
    migrationId: `incoming-test-${randomUUID()}`,
    geometry: { pageSize: PAGE_SIZE, memoryBytes: PAGES * PAGE_SIZE, slotBytes: PAGES * PAGE_SIZE, vcpus: 1 },
    workload: { ...WORKLOAD },
    channels: 1,
    ...changes,
  });
}

/** A loopback connection to `address`, speaking frames as the source does. */
export async function connectTo(address: { host: string; port: number }): Promise<FramedSocket> {
  const socket = connect(address.port, address.host);
  await once(socket, 'connect');
  return new FramedSocket(socket);
}

/** The register files of a test guest that booted and never ran: what the source sends for it. */
export async function pausedGuestRegisters(): Promise<Uint8Array[]> {
  const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 1, workload: WORKLOAD, paused: true });
  try {
    return guest.cpuState();
  } finally {
    await guest.stop();
  }
}

/** A destination listening on loopback for one describe block, and the register files its test guest sends. */
export interface AgentUnderTest {
  readonly agent: DestAgent;
  /** Set before the block's tests run. */
  address: { host: string; port: number };
  registers: Uint8Array[];
}

/**
 * A DestAgent (64 MiB, one warm channel and vCPU, unless `options` say otherwise) that listens before the
 * block's tests and is closed after them. Call it in a describe block.
 */
export function agentUnderTest(options: Partial<DestAgentOptions> = {}): AgentUnderTest {
  const under: AgentUnderTest = {
    agent: new DestAgent({ maxMemoryBytes: 64 * 1024 * 1024, warmChannels: 1, warmVcpus: 1, ...options }),
    address: { host: '', port: 0 },
    registers: [],
  };
  beforeAll(async () => {
    under.address = await under.agent.listen(0);
    under.registers = await pausedGuestRegisters();
  });
  afterAll(() => under.agent.close());
  return under;
}
