import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedSocket } from '@livemig/agent-runtime';
import { FrameType, encodePostcopyResume, encodeUrgentHello, type Frame } from '@livemig/protocol';
import { PausedPostcopies } from '../src/postcopy/paused-postcopies.js';

// Which recovery connections a paused post-copy takes: only its source's address, its reservation and its
// migration id; a complete attempt is its control and urgent connections together, in either order.

const MIGRATION_ID = '0123456789abcdef0123456789abcdef';
const SOURCE = '127.0.0.1';

describe('paused post-copies', () => {
  const sockets: Socket[] = [];
  let server: Server | undefined;
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  });

  /** The accepted end of a fresh loopback connection, as a FramedSocket, and the client's end to watch. */
  async function connection(): Promise<{ conn: FramedSocket; client: FramedSocket }> {
    server ??= createServer().listen(0, '127.0.0.1');
    if (!server.listening) await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const [socket] = await accepted;
    sockets.push(socket, client);
    return { conn: new FramedSocket(socket), client: new FramedSocket(client) };
  }

  /** A registry with reservation r-1 switched and paused. */
  function pausedOne(): PausedPostcopies {
    const paused = new PausedPostcopies();
    paused.track('r-1', { migrationId: MIGRATION_ID, sourceAddress: SOURCE, idleTimeoutMs: 60_000 }, () => {
      throw new Error('a paused migration is not interrupted');
    });
    paused.pause('r-1');
    return paused;
  }

  const resume = (migrationId = MIGRATION_ID, reservationId = 'r-1'): Frame => ({ type: FrameType.PostcopyResume, message: { migrationId, reservationId } });
  const urgentHello = (reservationId = 'r-1'): Frame => ({ type: FrameType.UrgentHello, message: { reservationId } });

  it('hands over an attempt once its control and urgent connections are both in, in either order', async () => {
    const paused = pausedOne();
    expect(paused.find(MIGRATION_ID)).toEqual({ reservationId: 'r-1', sourceAddress: SOURCE, idleTimeoutMs: 60_000 });
    const control = await connection();
    const urgent = await connection();
    expect(paused.offer(urgent.conn, urgentHello(), SOURCE)).toBe(true);
    expect(paused.offer(control.conn, resume(), SOURCE)).toBe(true);
    const attempt = await paused.nextAttempt('r-1');
    expect(attempt.control).toBe(control.conn);
    expect(attempt.urgent).toBe(urgent.conn);
    paused.untrack('r-1');
    expect(paused.find(MIGRATION_ID)).toBeUndefined();
  });

  it('a recovery connection for a migration that still runs interrupts it, and the attempt waits for its pause', async () => {
    // The source lost connections this side has not noticed (a silent peer): its reconnection says so.
    const paused = new PausedPostcopies();
    let interrupted = 0;
    paused.track('r-1', { migrationId: MIGRATION_ID, sourceAddress: SOURCE, idleTimeoutMs: 60_000 }, () => interrupted++);
    const control = await connection();
    const urgent = await connection();
    expect(paused.offer(control.conn, resume(), SOURCE)).toBe(true);
    expect(interrupted).toBe(1);
    paused.pause('r-1');
    expect(paused.offer(urgent.conn, urgentHello(), SOURCE)).toBe(true);
    expect(interrupted).toBe(1);
    const attempt = await paused.nextAttempt('r-1');
    expect(attempt.control).toBe(control.conn);
    expect(attempt.urgent).toBe(urgent.conn);
  });

  it.each([
    ['another address', resume(), '127.0.0.2', /must come from the paused migration's source/],
    ['another reservation', resume(MIGRATION_ID, 'r-2'), SOURCE, /no post-copy migration with this reservation runs here/],
    ['another migration id', resume('f'.repeat(32)), SOURCE, /names another migration/],
    ['a frame of another kind', { type: FrameType.Confirm, message: { migrationId: MIGRATION_ID } } as Frame, SOURCE, /not a recovery connection/],
  ])('refuses a connection with %s: Abort LM_ERR_HANDSHAKE', async (_name, first, address, why) => {
    const paused = pausedOne();
    const { conn, client } = await connection();
    expect(paused.offer(conn, first, address)).toBe(false);
    // The peer's Abort surfaces as its typed error on the client's side.
    await expect(client.receive(5_000, 'Abort')).rejects.toMatchObject({ code: 'LM_ERR_HANDSHAKE', message: expect.stringMatching(why) });
  });

  it('a newer connection of the same kind replaces an older one; an ended migration takes no more', async () => {
    const paused = pausedOne();
    const old = await connection();
    const control = await connection();
    const urgent = await connection();
    paused.offer(old.conn, resume(), SOURCE);
    paused.offer(control.conn, resume(), SOURCE);
    expect(old.conn.socket.destroyed).toBe(true);
    paused.offer(urgent.conn, urgentHello(), SOURCE);
    expect((await paused.nextAttempt('r-1')).control).toBe(control.conn);
    const listener = { closed: false, close() { this.closed = true; } };
    paused.closeOnRecovery('r-1', listener);
    paused.resume('r-1');
    expect(listener.closed).toBe(true);
    paused.untrack('r-1');
    const late = await connection();
    expect(paused.offer(late.conn, urgentHello(), SOURCE)).toBe(false);
  });

  it('the wire frames reach it as the main port decodes them', async () => {
    // What a source sends first on each recovery connection decodes to the frames offer() routes.
    const { conn, client } = await connection();
    await client.send(encodePostcopyResume({ migrationId: MIGRATION_ID, reservationId: 'r-1' }));
    await client.send(encodeUrgentHello({ reservationId: 'r-1' }));
    expect((await conn.receive(5_000, 'PostcopyResume')).type).toBe(FrameType.PostcopyResume);
    expect((await conn.receive(5_000, 'UrgentHello')).type).toBe(FrameType.UrgentHello);
  });
});
