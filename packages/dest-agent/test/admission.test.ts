import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType, PAGE_SIZE } from '@livemig/protocol';
import { DestAgent } from '@livemig/dest-agent';
import { waitForValue } from '../../../test/support/wait.js';
import { PAGES, connectTo, hello } from './helpers.js';

// Admission: what any peer may claim at once, and what ended migrations leave behind.
describe('admission limits', () => {
  const agent = new DestAgent({
    maxMemoryBytes: 64 * 1024 * 1024,
    warmChannels: 1,
    warmVcpus: 1,
    maxIncoming: 1,
    maxEndedRecords: 2,
    maxPendingConnections: 2,
  });
  let address: { host: string; port: number };
  beforeAll(async () => {
    address = await agent.listen(0);
  });
  afterAll(() => agent.close());

  it('refuses a Hello beyond --max-incoming while one migration is in flight, and records nothing for it', async () => {
    const first = await connectTo(address);
    await first.send(hello());
    expect((await first.receive(30_000, 'Accept')).type).toBe(FrameType.Accept);
    const recorded = agent.incoming().length;
    const second = await connectTo(address);
    await second.send(hello());
    const answer = await second.receive(30_000, 'Refuse');
    expect(answer.type === FrameType.Refuse && answer.message).toEqual({
      code: 'LM_ERR_REFUSED',
      message: 'this destination is receiving 1 migrations, its limit (--max-incoming)',
    });
    expect(agent.incoming()).toHaveLength(recorded);
    const failed = once(agent, 'failed');
    first.destroy();
    await failed;
  });

  it('keeps a bounded history of ended migrations', async () => {
    for (let i = 0; i < 4; i += 1) {
      const source = await connectTo(address);
      const failed = once(agent, 'failed');
      // Refused: larger than --max-memory.
      await source.send(hello({ geometry: { pageSize: PAGE_SIZE, memoryBytes: 128 * 1024 * 1024, slotBytes: 128 * 1024 * 1024, vcpus: 1 } }));
      await failed;
      source.destroy();
    }
    const reports = agent.incoming();
    expect(reports).toHaveLength(2);
    expect(reports.every((report) => report.status === 'failed')).toBe(true);
  });

  it('closes a connection beyond the pending cap at once, unread', async () => {
    const open = (): Promise<Socket> => {
      const socket = connect(address.port, address.host);
      socket.on('error', () => {});
      return once(socket, 'connect').then(() => socket);
    };
    const silent = [await open(), await open()];
    const closed = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));
    const third = await open();
    await closed(third);
    expect(silent.every((socket) => !socket.destroyed)).toBe(true);
    for (const socket of silent) socket.destroy();
    // Their slots are free again once the agent saw them close: a source gets through.
    const answer = await waitForValue(
      async () => {
        const source = await connectTo(address);
        await source.send(hello({ geometry: { pageSize: PAGE_SIZE, memoryBytes: PAGES * PAGE_SIZE, slotBytes: PAGES * PAGE_SIZE, vcpus: 1 } }));
        const type = await source.receive(30_000, 'Accept').then((frame) => frame.type, () => undefined);
        source.destroy();
        return type;
      },
      (type) => type !== undefined,
      { what: 'a source admitted again' },
    );
    expect(answer).toBe(FrameType.Accept);
  });
});
