import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FrameType,
  encodeActivated,
  encodeCommitted,
  encodeComplete,
  encodeConfirm,
  encodeOutcome,
  encodeOutcomeQuery,
  type Frame,
} from '@livemig/protocol';
import { FramedSocket } from '@livemig/agent-runtime';
import { runSource, startDest } from './support/agents.js';
import { FrameProxy, type ProxyRule } from './support/frame-proxy.js';

// The proxy the commit tests put between the agents, tried with two plain framed sockets: what it forwards,
// drops, delays and cuts, and what it records. Every wait is for an event (a frame, a close), never a time.

const COMPLETE = encodeComplete({ digest: 'ab', pagesSent: 1, rounds: 1, nonce: '0'.repeat(32) });
const COMMITTED = encodeCommitted({ digest: 'ab', proof: '1'.repeat(64) });
const CONFIRM = encodeConfirm({ migrationId: 'm-1' });
const ACTIVATED = encodeActivated({ activatedAtMs: 1 });
const QUERY = encodeOutcomeQuery({ migrationId: 'm-1' });
const OUTCOME = encodeOutcome({ migrationId: 'm-1', outcome: 'committed' });

/** A target that wraps every connection in a FramedSocket and hands them out in the order they came. */
class Target {
  private readonly waiting: Array<(conn: FramedSocket) => void> = [];
  private readonly accepted: FramedSocket[] = [];
  readonly sockets: Socket[] = [];
  constructor(readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.push(socket);
      const conn = new FramedSocket(socket);
      const waiter = this.waiting.shift();
      if (waiter) waiter(conn);
      else this.accepted.push(conn);
    });
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  next(): Promise<FramedSocket> {
    const conn = this.accepted.shift();
    return conn ? Promise.resolve(conn) : new Promise((resolve) => this.waiting.push(resolve));
  }
}

describe('frame proxy', () => {
  let target: Target;
  let proxy: FrameProxy | undefined;
  const clients: FramedSocket[] = [];

  beforeAll(async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    target = new Target(server);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const socket of target.sockets.splice(0)) socket.destroy();
    await proxy?.close();
  });
  afterAll(() => new Promise<void>((resolve) => target.server.close(() => resolve())));

  /** A proxy with `rules` in front of the target, and one client connection through it with its server end. */
  async function through(rules: ProxyRule[] = []): Promise<{ client: FramedSocket; server: FramedSocket }> {
    proxy = await FrameProxy.start({ port: target.port }, rules);
    return { client: await dial(), server: await target.next() };
  }

  async function dial(): Promise<FramedSocket> {
    const socket = connect(proxy!.port, '127.0.0.1');
    await once(socket, 'connect');
    const client = new FramedSocket(socket);
    clients.push(client);
    return client;
  }

  const typeOf = (frame: Frame): number => frame.type;

  it('forwards every frame byte for byte both ways and records each, decoded, in order', async () => {
    const { client, server } = await through();
    await client.send(COMPLETE);
    await client.send(CONFIRM);
    expect(await server.receive()).toMatchObject({ type: FrameType.Complete, message: { digest: 'ab', nonce: '0'.repeat(32) } });
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    await server.send(COMMITTED);
    expect(await client.receive()).toMatchObject({ type: FrameType.Committed, message: { proof: '1'.repeat(64) } });
    expect(server.bytesReceived).toBe(client.bytesSent);
    expect(client.bytesReceived).toBe(server.bytesSent);
    expect(proxy!.seen.map((s) => [s.connection, s.direction, s.name, s.fate])).toEqual([
      [1, 'toTarget', 'Complete', 'forwarded'],
      [1, 'toTarget', 'Confirm', 'forwarded'],
      [1, 'toClient', 'Committed', 'forwarded'],
    ]);
    expect(proxy!.seen[0]!.frame).toMatchObject({ type: FrameType.Complete, message: { pagesSent: 1 } });
  });

  it('drops the named frame and forwards what follows', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'drop' } }]);
    await client.send(COMPLETE);
    await client.send(CONFIRM);
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    expect(proxy!.seen.map((s) => [s.name, s.fate, s.rule])).toEqual([['Complete', 'dropped', 'drop'], ['Confirm', 'forwarded', undefined]]);
  });

  it('fires on the nth frame of its type only', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Confirm', nth: 2, action: { kind: 'drop' } }]);
    for (const frame of [CONFIRM, CONFIRM, CONFIRM, COMPLETE]) await client.send(frame);
    expect([typeOf(await server.receive()), typeOf(await server.receive()), typeOf(await server.receive())]).toEqual([
      FrameType.Confirm,
      FrameType.Confirm,
      FrameType.Complete,
    ]);
    expect(proxy!.seen.map((s) => s.fate)).toEqual(['forwarded', 'dropped', 'forwarded', 'forwarded']);
  });

  it('drops the named frame and everything after it that way, keeping the connection open', async () => {
    const { client, server } = await through([{ direction: 'toClient', frame: 'Committed', action: { kind: 'drop', rest: true } }]);
    await server.send(COMMITTED);
    await server.send(ACTIVATED);
    await proxy!.waitFor('Activated');
    // The other way still works, and neither end has been told anything.
    await client.send(CONFIRM);
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    await expect(client.receive(200)).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_TIMEOUT' }));
    expect(client.socket.destroyed || server.socket.destroyed).toBe(false);
    expect(proxy!.seen.filter((s) => s.direction === 'toClient').map((s) => [s.name, s.fate])).toEqual([
      ['Committed', 'dropped'],
      ['Activated', 'swallowed'],
    ]);
  });

  it('delays a frame until released, keeping the order behind it, while the other way flows', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'delay', until: gate } }]);
    await client.send(COMPLETE);
    await client.send(CONFIRM);
    await proxy!.waitFor('Confirm');
    await server.send(COMMITTED);
    expect(typeOf(await client.receive())).toBe(FrameType.Committed);
    const first = server.receive();
    release();
    expect(typeOf(await first)).toBe(FrameType.Complete);
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    expect(proxy!.seen.map((s) => [s.name, s.fate])).toEqual([['Complete', 'delayed'], ['Confirm', 'forwarded'], ['Committed', 'forwarded']]);
  });

  it('delays a frame by a time, in order', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'delay', ms: 50 } }]);
    await client.send(COMPLETE);
    await client.send(CONFIRM);
    expect([typeOf(await server.receive()), typeOf(await server.receive())]).toEqual([FrameType.Complete, FrameType.Confirm]);
  });

  it('cuts after a frame by closing both sides: the frame arrives, then both see the connection closed', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'cut', how: 'close' } }]);
    await client.send(COMPLETE);
    expect(typeOf(await server.receive())).toBe(FrameType.Complete);
    await expect(server.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
    await expect(client.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
    expect(proxy!.seen).toMatchObject([{ name: 'Complete', fate: 'forwarded', rule: 'cut' }]);
  });

  it('cuts before a frame: it never arrives', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'cut', how: 'close', before: true } }]);
    await client.send(CONFIRM);
    await client.send(COMPLETE);
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    await expect(server.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
    expect(proxy!.seen.map((s) => [s.name, s.fate])).toEqual([['Confirm', 'forwarded'], ['Complete', 'dropped']]);
  });

  it('cuts after a frame with a reset: the frame arrives, then both see the connection fail', async () => {
    const { client, server } = await through([{ direction: 'toClient', frame: 'Committed', action: { kind: 'cut', how: 'reset' } }]);
    await server.send(COMMITTED);
    expect(typeOf(await client.receive())).toBe(FrameType.Committed);
    await expect(client.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
    await expect(server.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
  });

  it('cuts silently: the frame arrives, then nothing passes either way and both ends stay open', async () => {
    const { client, server } = await through([{ direction: 'toTarget', frame: 'Complete', action: { kind: 'cut', how: 'silent' } }]);
    await client.send(COMPLETE);
    expect(typeOf(await server.receive())).toBe(FrameType.Complete);
    await server.send(COMMITTED);
    await client.send(CONFIRM);
    await proxy!.waitFor('Committed', { fate: 'swallowed' });
    await proxy!.waitFor('Confirm', { fate: 'swallowed' });
    // Even a peer that gives up and closes is not passed on.
    client.close();
    await expect(server.receive(200)).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_TIMEOUT' }));
    expect(server.socket.destroyed).toBe(false);
  });

  it('applies a rule to one connection only, and counts connections in the order accepted', async () => {
    const { client: first, server: firstServer } = await through([
      { direction: 'toTarget', frame: 'OutcomeQuery', connection: 2, action: { kind: 'drop' } },
    ]);
    await first.send(QUERY);
    expect(typeOf(await firstServer.receive())).toBe(FrameType.OutcomeQuery);
    const second = await dial();
    const secondServer = await target.next();
    await second.send(QUERY);
    await second.send(CONFIRM);
    expect(typeOf(await secondServer.receive())).toBe(FrameType.Confirm);
    await secondServer.send(OUTCOME);
    expect(await second.receive()).toMatchObject({ type: FrameType.Outcome, message: { outcome: 'committed' } });
    expect(proxy!.connectionCount).toBe(2);
    expect(proxy!.seen.map((s) => [s.connection, s.name, s.fate])).toEqual([
      [1, 'OutcomeQuery', 'forwarded'],
      [2, 'OutcomeQuery', 'dropped'],
      [2, 'Confirm', 'forwarded'],
      [2, 'Outcome', 'forwarded'],
    ]);
  });

  it('passes bytes that are not frames on as they are, for the peer to judge, and records why', async () => {
    const { client, server } = await through();
    client.socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await expect(server.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MAGIC' }));
    expect(proxy!.errors).toMatchObject([{ connection: 1, direction: 'toTarget', error: { code: 'LM_ERR_BAD_MAGIC' } }]);
  });

  it('rules added later apply to frames still to come', async () => {
    const { client, server } = await through();
    await client.send(CONFIRM);
    expect(typeOf(await server.receive())).toBe(FrameType.Confirm);
    proxy!.addRule({ direction: 'toTarget', frame: 'Confirm', nth: 2, action: { kind: 'drop' } });
    await client.send(CONFIRM);
    await client.send(COMPLETE);
    expect(typeOf(await server.receive())).toBe(FrameType.Complete);
  });

  it('cutAll closes every connection now', async () => {
    const { client, server } = await through();
    proxy!.cutAll('close');
    await expect(client.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
    await expect(server.receive()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_PEER_CLOSED' }));
  });
});

describe('frame proxy between the agents', () => {
  it('passes a whole migration through unchanged, data channels going direct, and records the control frames', async () => {
    const dest = await startDest([]);
    const proxy = await FrameProxy.start({ port: dest.port });
    try {
      const done = await runSource(['--memory', '16MiB', '--workload', 'hotcold', '--migrate-to', proxy.address, '--migrate-after', '100ms']).done;
      expect(done.code, done.stderr).toBe(0);
      await proxy.waitFor('Activated');
      // Each pre-copy round is acknowledged (round-ack-v1) before the guest is parked; the final round's may be too.
      const acks = proxy.seen.filter((s) => s.name === 'RoundAck');
      expect(acks.length).toBeGreaterThanOrEqual(1);
      expect(acks.every((s) => s.direction === 'toClient' && s.fate === 'forwarded')).toBe(true);
      expect(proxy.seen.findIndex((s) => s.name === 'RoundAck')).toBeLessThan(proxy.seen.findIndex((s) => s.name === 'CpuState'));
      const seen = proxy.seen.filter((s) => s.name !== 'RoundAck');
      expect(seen.map((s) => [s.direction, s.name, s.fate])).toEqual([
        ['toTarget', 'Hello', 'forwarded'],
        ['toClient', 'Accept', 'forwarded'],
        ['toTarget', 'CpuState', 'forwarded'],
        ['toTarget', 'Complete', 'forwarded'],
        ['toClient', 'Committed', 'forwarded'],
        ['toTarget', 'Confirm', 'forwarded'],
        ['toClient', 'Activated', 'forwarded'],
      ]);
      const hello = seen[0]!.frame;
      const complete = seen[3]!.frame;
      const committed = seen[4]!.frame;
      if (hello.type !== FrameType.Hello || complete.type !== FrameType.Complete || committed.type !== FrameType.Committed) throw new Error('frame types');
      expect(hello.message.migrationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(committed.message.digest).toBe(complete.message.digest);
      expect(committed.message.proof).not.toBe(complete.message.digest);
      const confirm = seen[5]!.frame;
      expect(confirm.type === FrameType.Confirm && confirm.message.migrationId).toBe(hello.message.migrationId);
      expect(proxy.connectionCount).toBe(1);
    } finally {
      await proxy.close();
      dest.child.kill('SIGTERM');
      await dest.done;
    }
  });
});
