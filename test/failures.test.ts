import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@livemig/protocol';
import { finalDigestOf, oracleDigest, readJson, runSource, startAgent, startDest, tempDir, waitForLog, SOURCE_BIN, DEST_BIN } from './support/agents.js';

// The source is primary until commit: a refusal, a destination that dies, or a connection cut in mid
// pre-copy all end with the guest still running at the source, and it still reaches the oracle's digest.
// About 8 s of guest at its pace: long enough that every migration below begins while it runs, and that it
// still dirties pages when a fault strikes after round 1.
const GUEST = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '3', '--ops', '48000', '--dirty-rate', '24MiB'];
// Never converges on its own (downtime limit 0 while the guest keeps dirtying), so pre-copy lasts long
// enough to be interrupted in the middle. A round that finds nothing dirty still ends pre-copy
// ('nothing-dirty'): on a starved host the vCPUs may not run between two quick rounds, so the fault tests also
// slow the rounds down (--max-bandwidth) to be sure the guest dirties pages during each.
const ENDLESS_PRECOPY = ['--downtime-limit', '0ms', '--max-rounds', '100000'];
const SLOW_ROUNDS = ['--max-bandwidth', '2MB/s'];

describe('failures before commit leave the guest running at the source', () => {
  const dir = tempDir();
  let expected: string;
  beforeAll(async () => {
    expected = await oracleDigest(GUEST);
  });
  afterAll(() => dir.remove());

  it('refusal: destination --max-memory too small', async () => {
    const dest = await startDest(['--once', '--max-memory', '16MiB']);
    const reportPath = dir.file('refused.json');
    const source = runSource([...GUEST, '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', reportPath]);
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/^source-agent: migration failed: .*refused.*\(LM_ERR_REFUSED\)$/m);
    const report = readJson(reportPath);
    expect(report.status).toBe('failed');
    expect(report.error.code).toBe('LM_ERR_REFUSED');
    expect(finalDigestOf(done.stdout)).toBe(expected);
    expect(destDone.code).toBe(1);
  });

  it('destination killed in mid pre-copy', async () => {
    const dest = await startDest(['--once']);
    const reportPath = dir.file('killed.json');
    const source = runSource([...GUEST, ...ENDLESS_PRECOPY, ...SLOW_ROUNDS, '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', reportPath]);
    await waitForLog(source, { msg: 'pre-copy round sent', round: 1 });
    dest.child.kill('SIGKILL');
    const done = await source.done;
    expect(done.code).toBe(1);
    const report = readJson(reportPath);
    expect(report.status).toBe('failed');
    expect(report.error.code).toMatch(/^LM_ERR_(PEER_CLOSED|TIMEOUT)$/);
    expect(report.rounds.length).toBeGreaterThanOrEqual(1);
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });

  it('control connection cut in mid pre-copy', async () => {
    const dest = await startDest(['--once', '--report', dir.file('cut-dest.json')]);
    const cutter = await cuttingProxy(dest.port);
    const reportPath = dir.file('cut.json');
    const source = runSource([...GUEST, ...ENDLESS_PRECOPY, ...SLOW_ROUNDS, '--migrate-to', `127.0.0.1:${cutter.port}`, '--migrate-after', '300ms', '--report', reportPath]);
    await waitForLog(source, { msg: 'pre-copy round sent', round: 1 });
    cutter.cutNow();
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    cutter.server.close();
    expect(done.code).toBe(1);
    const report = readJson(reportPath);
    expect(report.status).toBe('failed');
    expect(report.error.code).toBe('LM_ERR_PEER_CLOSED');
    expect(finalDigestOf(done.stdout)).toBe(expected);
    // The destination discarded what it had and said why.
    expect(destDone.code).toBe(1);
    expect(readJson(dir.file('cut-dest.json')).status).toBe('failed');
  });

  it('a destination that answers garbage: typed error, guest keeps running', async () => {
    const liar = createServer((socket) => {
      socket.once('data', () => socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    });
    liar.listen(0, '127.0.0.1');
    await once(liar, 'listening');
    const port = (liar.address() as { port: number }).port;
    const reportPath = dir.file('garbage.json');
    const done = await runSource([...GUEST, '--migrate-to', `127.0.0.1:${port}`, '--migrate-after', '200ms', '--report', reportPath]).done;
    liar.close();
    expect(done.code).toBe(1);
    expect(readJson(reportPath).error.code).toBe('LM_ERR_BAD_MAGIC');
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });

  it('nobody listening: LM_ERR_CONNECT, guest keeps running', async () => {
    const reportPath = dir.file('connect.json');
    const done = await runSource([...GUEST, '--migrate-to', '127.0.0.1:1', '--migrate-after', '100ms', '--report', reportPath]).done;
    expect(done.code).toBe(1);
    expect(readJson(reportPath).error.code).toBe('LM_ERR_CONNECT');
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });

  it('the destination survives a hostile source and serves the next one', async () => {
    const dest = await startDest([]);
    try {
      const hostile = connect(dest.port, '127.0.0.1');
      await once(hostile, 'connect');
      // A header with the right magic and an absurd length: refused from the header alone.
      const header = Buffer.alloc(16);
      header.writeUInt32BE(0x4c4d4947, 0);
      header.writeUInt8(PROTOCOL_VERSION, 4);
      header.writeUInt8(0x01, 5);
      header.writeUInt32BE(0xffffffff, 8);
      const answer: Buffer[] = [];
      hostile.on('data', (chunk: Buffer) => answer.push(chunk));
      hostile.write(header);
      await once(hostile, 'close');
      // Told why before the close: one Abort naming the cause.
      expect(Buffer.concat(answer).toString('latin1')).toContain('LM_ERR_FRAME_TOO_LARGE');
      // Dropped before its first frame: never recorded as an incoming migration.
      await waitForLog(dest, { msg: 'connection dropped before its first frame', err: { code: 'LM_ERR_FRAME_TOO_LARGE' } });
      const done = await runSource(['--memory', '16MiB', '--workload', 'hotcold', '--migrate-to', dest.address, '--migrate-after', '100ms']).done;
      expect(done.code, done.stderr).toBe(0);
    } finally {
      dest.child.kill('SIGTERM');
      await dest.done;
    }
  });
});

describe('command lines', () => {
  it('an unknown flag: one line naming it, exit 2', async () => {
    const done = await startAgent(SOURCE_BIN, ['run', '--bogus', '1']).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim().split('\n')).toHaveLength(1);
    expect(done.stderr).toMatch(/bogus/);
  });

  it('a bad size: one line naming the flag, exit 2', async () => {
    const done = await startAgent(SOURCE_BIN, ['run', '--memory', 'lots']).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim()).toBe('source-agent: --memory: cannot read "lots" as a size (e.g. 256MiB, 1GiB)');
  });

  it('an answer timeout of 0: one line naming the flag, exit 2', async () => {
    const done = await startAgent(SOURCE_BIN, ['run', '--answer-timeout', '0s']).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim()).toBe('source-agent: --answer-timeout: expected a duration above 0, got 0s');
  });

  it('a bad destination address: one line naming the flag, exit 2', async () => {
    const done = await startAgent(SOURCE_BIN, ['run', '--migrate-to', 'nowhere']).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim()).toMatch(/^source-agent: --migrate-to: expected HOST:PORT/);
  });

  it('dest-agent: a port already in use is a one-line error', async () => {
    const dest = await startDest([]);
    try {
      const done = await startAgent(DEST_BIN, ['listen', '--port', String(dest.port)]).done;
      expect(done.code).toBe(1);
      expect(done.stderr.trim()).toMatch(/^dest-agent: .*EADDRINUSE/);
    } finally {
      dest.child.kill('SIGTERM');
      await dest.done;
    }
  });
});

/** A TCP proxy in front of the destination's control port; cutNow() resets both sides of every connection. */
async function cuttingProxy(targetPort: number): Promise<{ server: Server; port: number; cutNow(): void }> {
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client: Socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    pairs.push([client, upstream]);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as { port: number }).port,
    cutNow: () => {
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
    },
  };
}
