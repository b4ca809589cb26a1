import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CAPABILITIES,
  CAPABILITY_ROUND_ACK,
  FrameDecoder,
  FrameType,
  PAGE_SIZE,
  PROTOCOL_VERSION,
  PageChecksums,
  encodeChannelHello,
  encodeComplete,
  encodeConfirm,
  encodeCpuState,
  encodeHello,
  encodeRoundBegin,
  encodeRoundEnd,
  newCommitNonce,
  type Frame,
} from '@livemig/protocol';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { waitFor } from './support/wait.js';

const PAGES = 64;
const WORKLOAD = parseWorkloadSpec({ name: 'idle', seed: 1, ops: 0, params: {} });

// The destination's channel workers listen before any reservation, so anyone may connect to a data port. A
// connection that does not open with the reservation's ChannelHello is aborted on its own; the channel keeps
// waiting for its source, and the migration commits.
describe('data channel ports', () => {
  const agent = new DestAgent({ maxMemoryBytes: 1024 * 1024 * 1024 });
  let guest: Guest | undefined;
  afterAll(async () => {
    await guest?.stop();
    await agent.close();
  });

  it("abort a connection without the reservation's ChannelHello and still take the source's", async () => {
    const address = await agent.listen(0);
    const control = await opened(connect(address.port, address.host));
    const controlFrames = frames(control);
    control.write(
      encodeHello({
        protocolVersion: PROTOCOL_VERSION,
        // This hand-made source reads no round acknowledgements: it does not offer them.
        capabilities: CAPABILITIES.filter((c) => c !== CAPABILITY_ROUND_ACK),
        guestId: 'channel-hello',
        migrationId: 'channel-hello-1',
        geometry: { pageSize: PAGE_SIZE, memoryBytes: PAGES * PAGE_SIZE, slotBytes: PAGES * PAGE_SIZE, vcpus: 1 },
        workload: { ...WORKLOAD },
        channels: 1,
      }),
    );
    const accept = await controlFrames.next();
    if (accept.type !== FrameType.Accept) throw new Error(`expected Accept, got frame type ${accept.type}`);
    const [port] = accept.message.channelPorts;

    const stranger = await opened(connect(port!, address.host));
    stranger.write(encodeChannelHello({ reservationId: 'not-the-reservation', channel: 0 }));
    const refusal = await frames(stranger).next();
    expect(refusal.type).toBe(FrameType.Abort);
    if (refusal.type === FrameType.Abort) expect(refusal.message.code).toBe('LM_ERR_HANDSHAKE');

    const source = await opened(connect(port!, address.host));
    source.write(encodeChannelHello({ reservationId: accept.message.reservationId, channel: 0 }));
    source.write(encodeRoundBegin({ round: 1, pages: 0 }));
    source.write(encodeRoundEnd({ round: 1, pages: 0 }));
    // A guest that never wrote a page: what the destination rebuilt from one empty round.
    const registers = await pausedGuestRegisters();
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    control.write(encodeCpuState({ registers, running: false }));
    const digest = PageChecksums.create(PAGES).digest(registers);
    control.write(encodeComplete({ digest, pagesSent: 0, rounds: 1, nonce: newCommitNonce() }));
    const committed = await controlFrames.next();
    expect(committed.type).toBe(FrameType.Committed);
    // The destination starts the guest only on the source's Confirm.
    control.write(encodeConfirm({ migrationId: 'channel-hello-1' }));
    guest = (await arrived)[0].guest;
    control.destroy();
    source.destroy();
  });
});

async function pausedGuestRegisters(): Promise<Uint8Array[]> {
  const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 1, workload: WORKLOAD, paused: true });
  try {
    return guest.cpuState();
  } finally {
    await guest.stop();
  }
}

async function opened(socket: Socket): Promise<Socket> {
  await once(socket, 'connect');
  return socket;
}

/** The frames arriving on `socket`, one at a time. */
function frames(socket: Socket): { next(): Promise<Frame> } {
  const decoder = new FrameDecoder();
  const arrived: Frame[] = [];
  socket.on('data', (chunk: Buffer) => arrived.push(...decoder.push(chunk)));
  return {
    async next() {
      await waitFor(() => arrived.length > 0 || socket.destroyed, { what: 'a frame or the end of the connection' });
      const frame = arrived.shift();
      if (!frame) throw new Error('connection closed without a frame');
      return frame;
    },
  };
}
