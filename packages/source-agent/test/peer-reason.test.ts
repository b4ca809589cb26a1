import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedSocket } from '@livemig/agent-runtime';
import { PeerClosedError, TimeoutError, encodeAbort } from '@livemig/protocol';
import type { MigrationContext } from '../dist/outgoing/context.js';
import { PEER_REASON_WAIT_MS, withPeerReason } from '../dist/outgoing/outcome.js';
import { LocalServers } from './local-servers.js';

// A data channel cut before commit races the destination's Abort on the control connection (it aborts the
// faulty channel first, then journals and tells why): the source reports the destination's reason when it comes.
const servers = new LocalServers();
afterEach(() => servers.close());

/** A control connection (FramedSocket, ours) to a raw peer socket. */
async function control(): Promise<{ framed: FramedSocket; peer: Socket }> {
  let peer!: Socket;
  const port = await servers.listen((socket) => (peer = socket));
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  while (!peer) await new Promise((resolve) => setImmediate(resolve));
  return { framed: new FramedSocket(client), peer };
}

const contextWith = (connection: FramedSocket, state: { committed?: boolean; switched?: boolean } = {}): MigrationContext =>
  ({ connection, committed: state.committed ?? false, switched: state.switched ?? false }) as unknown as MigrationContext;

const cut = new PeerClosedError('connection failed: read ECONNRESET');

describe('withPeerReason', () => {
  it("a data channel's cut is reported as the destination's Abort that follows it", async () => {
    const { framed, peer } = await control();
    setTimeout(() => peer.end(encodeAbort({ code: 'LM_ERR_CRC_MISMATCH', message: 'data channel 1: frame CRC differs' })), 50);
    const reported = await withPeerReason(contextWith(framed), cut);
    expect(reported).toMatchObject({ code: 'LM_ERR_CRC_MISMATCH' });
  });

  it('keeps the cut when the control connection only closes, or stays open past the wait', async () => {
    const closing = await control();
    setTimeout(() => closing.peer.end(), 20);
    expect(await withPeerReason(contextWith(closing.framed), cut)).toBe(cut);
    const silent = await control();
    const started = performance.now();
    expect(await withPeerReason(contextWith(silent.framed), cut)).toBe(cut);
    expect(performance.now() - started).toBeGreaterThanOrEqual(PEER_REASON_WAIT_MS - 5);
  });

  it('leaves other failures, and any failure after the commit point or the post-copy switch, as they are', async () => {
    const { framed, peer } = await control();
    peer.write(encodeAbort({ code: 'LM_ERR_CRC_MISMATCH', message: 'frame CRC differs' }));
    await framed.ended(10_000);
    const timeout = new TimeoutError('no traffic from peer for 10 ms');
    expect(await withPeerReason(contextWith(framed), timeout)).toBe(timeout);
    expect(await withPeerReason(contextWith(framed, { committed: true }), cut)).toBe(cut);
    expect(await withPeerReason(contextWith(framed, { switched: true }), cut)).toBe(cut);
    expect(await withPeerReason(contextWith(framed), cut)).toMatchObject({ code: 'LM_ERR_CRC_MISMATCH' });
  });
});
