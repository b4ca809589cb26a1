import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir, waitForLog, type Agent } from './support/agents.js';
import { certArgs, makeTestCredentials, randomPsk, type TestCredentials } from './support/tls-credentials.js';

// TLS 1.3 with mutual authentication on every connection (README, "Security"), and QEMU's negative matrix
// (tests/qtest/migration/tls-tests.c): each mismatch fails the migration with LM_ERR_AUTH (or, for a plaintext
// source, is dropped by the destination before it reads a byte), and the guest keeps running at the source up
// to the oracle's digest. Credentials are made here, at test time.
const GUEST = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '5', '--ops', '6000', '--dirty-rate', '24MiB'];

describe('TLS on every connection', () => {
  let creds: TestCredentials;
  let expected: string;
  const dir = tempDir();
  const key = randomPsk();
  let pskFile: string;
  const started: Agent[] = [];
  beforeAll(async () => {
    creds = makeTestCredentials();
    pskFile = creds.pskFile('keys.psk', { source: key, other: randomPsk() });
    expected = await oracleDigest(GUEST);
  });
  afterAll(() => {
    for (const agent of started) agent.child.kill('SIGKILL');
    creds.remove();
    dir.remove();
  });

  /** Migrates GUEST over 2 data channels; resolves with the source's exit, report and final digest. */
  async function migrate(destArgs: string[], sourceArgs: string[], name: string) {
    const dest = await startDest([...destArgs, '--once', '--report', dir.file(`${name}-dest.json`)]);
    started.push(dest);
    const reportPath = dir.file(`${name}-source.json`);
    const source = runSource([...GUEST, '--streams', '2', ...sourceArgs, '--migrate-to', dest.address, '--migrate-after', '200ms', '--report', reportPath]);
    started.push(source);
    const done = await source.done;
    return { dest, done, report: readJson(reportPath) };
  }

  /** The negative cases: the source's migration fails with `code`, its guest runs on to the oracle's digest. */
  async function expectRefused(destArgs: string[], sourceArgs: string[], name: string, code: string, message: RegExp) {
    const { dest, done, report } = await migrate(destArgs, sourceArgs, name);
    expect(done.code, done.stderr).toBe(1);
    expect(report.status).toBe('failed');
    expect(report.error.code, report.error.message).toBe(code);
    expect(report.error.message, report.error.message).toMatch(message);
    expect(finalDigestOf(done.stdout)).toBe(expected);
    dest.child.kill('SIGTERM');
    return dest;
  }

  it('PSK: a migration over TLS passes the oracle, its data channels and control connection authenticated', async () => {
    const { dest, done, report } = await migrate(['--tls-psk-file', pskFile], ['--tls-psk-file', pskFile, '--tls-identity', 'source'], 'psk');
    expect(done.code, done.stderr).toBe(0);
    expect(report.status).toBe('completed');
    const destDone = await dest.done;
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    // The destination's data ports, like its control port, take TLS only: the guest arrived over TLS channels.
    expect(dest.logs.seen.filter((record) => record.msg === 'connection refused: not authenticated')).toHaveLength(0);
  });

  it('PSK: a post-copy migration passes the oracle, its urgent connection authenticated too', async () => {
    const { dest, done, report } = await migrate(['--tls-psk-file', pskFile], ['--tls-psk-file', pskFile, '--tls-identity', 'source', '--mode', 'postcopy'], 'psk-postcopy');
    expect(done.code, done.stderr).toBe(0);
    expect(report.status).toBe('completed');
    expect(report.postcopy.pagesSentTwice).toBe(0);
    const destDone = await dest.done;
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    expect(dest.logs.seen.filter((record) => record.msg === 'connection refused: not authenticated')).toHaveLength(0);
  });

  it('PSK: a destination killed in mid pre-copy ends the migration as without TLS; the guest runs on', async () => {
    const dest = await startDest(['--once', '--tls-psk-file', pskFile]);
    started.push(dest);
    const reportPath = dir.file('psk-killed-source.json');
    const endless = ['--downtime-limit', '0ms', '--max-rounds', '100000'];
    const source = runSource([...GUEST, ...endless, '--tls-psk-file', pskFile, '--tls-identity', 'source', '--migrate-to', dest.address, '--migrate-after', '200ms', '--report', reportPath]);
    started.push(source);
    await waitForLog(source, { msg: 'pre-copy round sent', round: 1 });
    dest.child.kill('SIGKILL');
    const done = await source.done;
    expect(done.code).toBe(1);
    expect(readJson(reportPath).error.code).toMatch(/^LM_ERR_(PEER_CLOSED|TIMEOUT)$/);
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });

  it('PSK: same identity, wrong key (QEMU psk/mismatch)', async () => {
    const wrong = creds.pskFile('wrong.psk', { source: randomPsk() });
    await expectRefused(['--tls-psk-file', pskFile], ['--tls-psk-file', wrong, '--tls-identity', 'source'], 'psk-wrong-key', 'LM_ERR_AUTH', /another key for this PSK identity/);
  });

  it('PSK: an identity the destination does not know', async () => {
    const stranger = creds.pskFile('stranger.psk', { stranger: key });
    const dest = await expectRefused(['--tls-psk-file', pskFile], ['--tls-psk-file', stranger, '--tls-identity', 'stranger'], 'psk-unknown', 'LM_ERR_AUTH', /TLS handshake .* failed/);
    await waitForLog(dest, { msg: 'connection refused: not authenticated', err: { code: 'LM_ERR_AUTH', message: /unknown PSK identity "stranger"/ } });
  });

  it('a plaintext source: dropped by the destination before a byte of it is read', async () => {
    const dest = await expectRefused(['--tls-psk-file', pskFile], [], 'plaintext-source', 'LM_ERR_PEER_CLOSED', /closed|reset|ECONNRESET/);
    await waitForLog(dest, { msg: 'connection refused: not authenticated', err: { code: 'LM_ERR_AUTH' } });
  });

  it('a TLS source and a plaintext destination', async () => {
    await expectRefused([], ['--tls-psk-file', pskFile, '--tls-identity', 'source'], 'plaintext-dest', 'LM_ERR_AUTH', /does not speak TLS|without TLS/);
  });

  it('x509: a migration passes the oracle with certificates both ways', async () => {
    const destCert = creds.cert('dest');
    const sourceCert = creds.cert('source');
    const { dest, done, report } = await migrate(certArgs(creds, destCert, ['source']), certArgs(creds, sourceCert, ['dest']), 'x509');
    expect(done.code, done.stderr).toBe(0);
    expect(report.status).toBe('completed');
    expect(finalDigestOf((await dest.done).stdout)).toBe(expected);
  });

  it('x509: a server certificate for another host name (QEMU mismatch-host)', async () => {
    const elsewhere = creds.cert('elsewhere.example', { ip: false });
    await expectRefused(certArgs(creds, elsewhere, ['source']), certArgs(creds, creds.cert('source'), ['elsewhere.example']), 'x509-host', 'LM_ERR_AUTH', /names another host/);
  });

  it('x509: a client not on the allow-list (QEMU hostile-client)', async () => {
    await expectRefused(
      certArgs(creds, creds.cert('dest'), ['source']),
      certArgs(creds, creds.cert('hostile'), ['dest']),
      'x509-hostile',
      'LM_ERR_AUTH',
      /client certificate names "hostile", none on the allow-list/,
    );
  });

  it('x509: a client certificate from a CA the destination does not trust', async () => {
    const dest = await expectRefused(
      certArgs(creds, creds.cert('dest'), ['source']),
      certArgs(creds, creds.untrustedCert('source'), ['dest']),
      'x509-untrusted',
      'LM_ERR_AUTH',
      /client certificate does not verify against the CA/,
    );
    await waitForLog(dest, { msg: 'connection refused: not authenticated', err: { code: 'LM_ERR_AUTH' } });
  });
});
