import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { TransportSecurity } from '@livemig/agent-runtime';
import { ReceiverPool } from '../dist/receiver-pool.js';

const SERVER: TransportSecurity = { kind: 'psk', keys: { source: randomBytes(32).toString('hex') } };

// A pooled receiver thread listens before any reservation assigns it a channel, and keeps a connection that
// comes before its assignment (the source may connect as soon as Accept names the port). With credentials its
// sockets read at once, so a peer that resets such a connection makes it fail with ECONNRESET: that must not
// end the thread (a stranger could otherwise kill every spare receiver before a migration takes them).
describe('a receiver thread before its assignment', () => {
  const pool = new ReceiverPool(1, { host: '127.0.0.1', security: SERVER });
  afterAll(() => pool.close());

  it('outlives a connection reset before the assignment', async () => {
    const [thread] = await pool.take(1);
    expect(thread).toBeDefined();
    const { worker, greeting } = thread!;
    let failure: unknown;
    worker.on('error', (error) => (failure = error));
    const exited = once(worker, 'exit');
    const socket = connect(greeting.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('not a TLS hello');
    await sleep(100);
    socket.resetAndDestroy();
    // The thread answers a fresh connection afterwards: it is still listening.
    await sleep(300);
    const probe = connect(greeting.port, '127.0.0.1');
    const answered = await new Promise<boolean>((resolve) => probe.once('connect', () => resolve(true)).once('error', () => resolve(false)));
    probe.destroy();
    expect(answered).toBe(true);
    await sleep(200);
    expect(failure).toBeUndefined();
    await worker.terminate();
    await exited;
  });
});
