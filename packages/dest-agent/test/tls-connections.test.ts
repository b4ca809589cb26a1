import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType, encodeChannelHello, encodeOutcomeQuery, encodeRoundBegin } from '@livemig/protocol';
import { FramedSocket, connectTcp, type TransportSecurity } from '@livemig/agent-runtime';
import { DestAgent } from '@livemig/dest-agent';
import { hello } from './helpers.js';

const key = randomBytes(32).toString('hex');
const SERVER: TransportSecurity = { kind: 'psk', keys: { source: key } };
const CLIENT: TransportSecurity = { kind: 'psk', identity: 'source', keys: { source: key } };

// Every connection a destination with credentials accepts is authenticated first: the control connection, the
// data channels and the outcome queries alike; a plaintext peer is dropped before a byte of it is read.
describe('a destination with TLS credentials', () => {
  const agent = new DestAgent({ maxMemoryBytes: 64 * 1024 * 1024, warmChannels: 1, warmVcpus: 1, security: SERVER });
  let address: { host: string; port: number };
  beforeAll(async () => {
    address = await agent.listen(0);
  });
  afterAll(() => agent.close());

  const secured = async (port = address.port): Promise<FramedSocket> => new FramedSocket(await connectTcp({ host: address.host, port }, 10_000, CLIENT));

  it('answers an outcome query over TLS (an id it never saw: aborted)', async () => {
    const conn = await secured();
    const migrationId = randomUUID();
    await conn.send(encodeOutcomeQuery({ migrationId }));
    const answer = await conn.receive(30_000, 'Outcome');
    expect(answer.type === FrameType.Outcome && answer.message).toMatchObject({ migrationId, outcome: 'aborted' });
    conn.destroy();
  });

  it('drops a plaintext peer on its main port, unread, and says why in its log events', async () => {
    const refused = once(agent, 'unauthenticated') as Promise<[{ code: string; message: string }]>;
    const socket = connect(address.port, address.host);
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(hello());
    const [error] = await refused;
    expect(error.code).toBe('LM_ERR_AUTH');
    await new Promise((resolve) => socket.once('close', resolve));
  });

  it('opens data channels over TLS only', async () => {
    const control = await secured();
    await control.send(hello());
    const accept = await control.receive(30_000, 'Accept');
    if (accept.type !== FrameType.Accept) throw new Error('expected Accept');
    const port = accept.message.channelPorts[0]!;
    // Plaintext, from the source's own address: closed without an answer.
    const plain = connect(port, address.host);
    plain.on('error', () => {});
    await once(plain, 'connect');
    plain.write(encodeChannelHello({ reservationId: accept.message.reservationId, channel: 0 }));
    let answered = false;
    plain.on('data', () => (answered = true));
    await new Promise((resolve) => plain.once('close', resolve));
    expect(answered).toBe(false);
    // Over TLS, the channel opens and takes a round.
    const channel = await secured(port);
    await channel.send(encodeChannelHello({ reservationId: accept.message.reservationId, channel: 0 }));
    await channel.send(encodeRoundBegin({ round: 1, pages: 0 }));
    expect(channel.error).toBeUndefined();
    channel.destroy();
    control.destroy();
    await once(agent, 'failed');
  });
});
