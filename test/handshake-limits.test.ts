import { connect } from 'node:net';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CAPABILITIES,
  CAPABILITY_CHANNELS,
  CAPABILITY_LZ4_RUNS,
  CAPABILITY_PAGES,
  CAPABILITY_ZSTD_RUNS,
  CAPABILITY_DIRECT_PAGES,
  CAPABILITY_ROUND_ACK,
  FrameDecoder,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  encodeHello,
  type Frame,
} from '@livemig/protocol';
import { MAX_VCPUS } from '@livemig/guest';
import { DestAgent } from '@livemig/dest-agent';

// The protocol allows up to 256 vCPUs in a Hello; a guest runs at most MAX_VCPUS. The destination must
// refuse a guest it could not run during the handshake, before it reserves memory or takes any page.
describe('handshake limits', () => {
  const agent = new DestAgent({ maxMemoryBytes: 1024 * 1024 * 1024 });
  afterAll(() => agent.close());

  let listening: Promise<{ host: string; port: number }> | undefined;
  /** Each Hello is a migration of its own: a fresh migration id. */
  let attempts = 0;

  async function answerTo(vcpus: number, capabilities = CAPABILITIES): Promise<Frame> {
    listening ??= agent.listen(0);
    const address = await listening;
    const socket = connect(address.port, address.host);
    await once(socket, 'connect');
    socket.write(
      encodeHello({
        protocolVersion: PROTOCOL_VERSION,
        capabilities,
        guestId: 'handshake-limits',
        migrationId: `handshake-limits-${(attempts += 1)}`,
        geometry: { pageSize: PAGE_SIZE, memoryBytes: 64 * 1024 * 1024, slotBytes: 64 * 1024 * 1024, vcpus },
        workload: { name: 'idle', seed: 1, ops: 0, params: {} },
        channels: 1,
      }),
    );
    const decoder = new FrameDecoder();
    for await (const chunk of socket) {
      const frames = decoder.push(chunk as Buffer);
      if (frames.length > 0) {
        socket.destroy();
        return frames[0]!;
      }
    }
    throw new Error('connection closed without an answer');
  }

  it(`refuses a guest with more than ${MAX_VCPUS} vCPUs with LM_ERR_HANDSHAKE, reserving nothing`, async () => {
    const answer = await answerTo(MAX_VCPUS + 1);
    expect(answer.type).toBe(FrameType.Refuse);
    if (answer.type !== FrameType.Refuse) return;
    expect(answer.message.code).toBe('LM_ERR_HANDSHAKE');
    expect(answer.message.message).toBe(`guest has ${MAX_VCPUS + 1} vCPUs; this agent runs 1..${MAX_VCPUS}`);
    expect(agent.reservations.freeBytes).toBe(agent.reservations.limitBytes);
  });

  it('agrees to Lz4Run and ZstdRun entries, direct page batches and round acknowledgements only when the source offers them', async () => {
    const offered = await answerTo(1);
    expect(offered.type === FrameType.Accept && offered.message.capabilities).toEqual([
      CAPABILITY_PAGES,
      CAPABILITY_CHANNELS,
      CAPABILITY_LZ4_RUNS,
      CAPABILITY_ZSTD_RUNS,
      CAPABILITY_DIRECT_PAGES,
      CAPABILITY_ROUND_ACK,
    ]);
    const notOffered = await answerTo(1, [CAPABILITY_PAGES, CAPABILITY_CHANNELS]);
    expect(notOffered.type === FrameType.Accept && notOffered.message.capabilities).toEqual([CAPABILITY_PAGES, CAPABILITY_CHANNELS]);
  });
});
