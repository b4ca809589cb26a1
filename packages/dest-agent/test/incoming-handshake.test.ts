import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CAPABILITY_CHANNELS,
  FRAME_HEADER_BYTES,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  encodeCpuState,
  encodeFrame,
  frameTypeName,
  type Frame,
} from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import { DestAgent, type IncomingReport } from '@livemig/dest-agent';
import { PAGES, connectTo, hello, pausedGuestRegisters } from './helpers.js';

const LIMIT_BYTES = 1024 * 1024;

// The handshake phase of the destination, spoken to over loopback as a source would: a Hello this agent will
// not serve is answered with Refuse (then the connection ends, with no Abort after it), anything else that
// fails before Accept with Abort; nothing is reserved either way.
describe('incoming handshake', () => {
  const agent = new DestAgent({ maxMemoryBytes: LIMIT_BYTES, warmChannels: 1, warmVcpus: 1 });
  let address: { host: string; port: number };
  beforeAll(async () => {
    address = await agent.listen(0);
  });
  afterAll(() => agent.close());

  /** Sends `first` on a new control connection; resolves with the answer and the report of the failure. */
  async function answerTo(first: Buffer): Promise<{ source: FramedSocket; answer: Promise<Frame>; report: IncomingReport }> {
    const source = await connectTo(address);
    const failed = once(agent, 'failed') as Promise<[IncomingReport]>;
    await source.send(first);
    const answer = source.receive(30_000, 'the answer to Hello');
    answer.catch(() => {});
    const [report] = await failed;
    return { source, answer, report };
  }

  async function expectRefused(first: Buffer, code: string, message: string): Promise<void> {
    const { source, answer, report } = await answerTo(first);
    const frame = await answer;
    expect(frame.type).toBe(FrameType.Refuse);
    if (frame.type === FrameType.Refuse) expect(frame.message).toEqual({ code, message });
    // Refuse is the last frame: the destination ends the connection gracefully, no Abort follows.
    await expect(source.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_PEER_CLOSED', message: 'peer closed the connection' });
    expect(report.status).toBe('failed');
    expect(report.error).toEqual({ code, message });
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
    source.destroy();
  }

  it('refuses a Hello of another protocol version with LM_ERR_HANDSHAKE', async () => {
    await expectRefused(
      hello({ protocolVersion: PROTOCOL_VERSION + 1 }),
      'LM_ERR_HANDSHAKE',
      `source speaks protocol version ${PROTOCOL_VERSION + 1}, this agent ${PROTOCOL_VERSION}`,
    );
  });

  it('refuses a source that lacks a required capability with LM_ERR_HANDSHAKE', async () => {
    await expectRefused(hello({ capabilities: [CAPABILITY_CHANNELS] }), 'LM_ERR_HANDSHAKE', 'source lacks capability pages-v1');
  });

  it('refuses a workload this agent does not know with LM_ERR_HANDSHAKE', async () => {
    const { answer, report, source } = await answerTo(
      hello({ workload: { name: 'no-such-workload', seed: 1, ops: 0, params: {} } }),
    );
    const frame = await answer;
    expect(frame.type === FrameType.Refuse && frame.message.code).toBe('LM_ERR_HANDSHAKE');
    expect(report.error?.message).toMatch(/^workload rejected: /);
    source.destroy();
  });

  it('refuses a guest larger than the free memory with LM_ERR_REFUSED, naming what is free', async () => {
    await expectRefused(
      hello({ geometry: { pageSize: PAGE_SIZE, memoryBytes: 2 * LIMIT_BYTES, slotBytes: 2 * LIMIT_BYTES, vcpus: 1 } }),
      'LM_ERR_REFUSED',
      'guest needs 2.0 MiB, this agent has 1.0 MiB free of 1.0 MiB (--max-memory)',
    );
  });

  it('aborts a connection that does not open with Hello with LM_ERR_UNEXPECTED_FRAME', async () => {
    const registers = await pausedGuestRegisters();
    const { answer, report, source } = await answerTo(encodeCpuState({ registers, running: false }));
    const message = `expected Hello to open the migration, got ${frameTypeName(FrameType.CpuState)}`;
    await expect(answer).rejects.toMatchObject({ code: 'LM_ERR_UNEXPECTED_FRAME', message: `peer aborted: ${message}` });
    expect(report.error).toEqual({ code: 'LM_ERR_UNEXPECTED_FRAME', message });
    expect(report.guestId).toBeNull();
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
    source.destroy();
  });

  it('aborts an old source whose Hello still carries the token, with LM_ERR_BAD_MESSAGE naming it; nothing recorded or reserved', async () => {
    // The wire bytes of such a Hello: today's, with one more key in its msgpack map (a fixmap: 0x80 | keys).
    const today = hello();
    const payload = Buffer.from(today.subarray(FRAME_HEADER_BYTES));
    expect(payload[0]! & 0xf0).toBe(0x80);
    payload[0]! += 1;
    const old = encodeFrame(FrameType.Hello, Buffer.concat([payload, Buffer.from([0xa5, ...Buffer.from('token'), 0xa6, ...Buffer.from('secret')])]));
    const recorded = agent.incoming().length;
    const source = await connectTo(address);
    await source.send(old);
    await expect(source.receive(30_000, 'the answer to Hello')).rejects.toMatchObject({
      code: 'LM_ERR_BAD_MESSAGE',
      message: expect.stringMatching(/^peer aborted: .*'token': obsolete: this agent authenticates with TLS only/),
    });
    expect(agent.incoming()).toHaveLength(recorded);
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
    source.destroy();
  });

  it('reports what the refused Hello said about the guest', async () => {
    const { report, source } = await answerTo(hello({ guestId: 'refused-guest', capabilities: [CAPABILITY_CHANNELS] }));
    expect(report).toMatchObject({ guestId: 'refused-guest', memoryBytes: PAGES * PAGE_SIZE, vcpus: 1, workload: 'idle', rounds: 0, pagesReceived: 0 });
    expect(agent.incoming().find((incoming) => incoming.id === report.id)?.status).toBe('failed');
    source.destroy();
  });
});
