import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TOKEN_IDENTITY, checkListenSecurity, isLoopback, loadTransportSecurity, parsePskFile, silentLogger } from '@livemig/agent-runtime';

describe('TLS flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'livemig-tls-options-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads identity:hexkey lines, skipping blanks and comments (QEMU keys.psk)', () => {
    expect(parsePskFile('# keys\nqemu:009D5638c40fde0c\n\nother:10ffa6a2c42f0388\n', 'keys.psk')).toEqual({
      qemu: '009d5638c40fde0c',
      other: '10ffa6a2c42f0388',
    });
  });

  it.each([
    ['no colon', 'qemu009d5638', /keys.psk line 1: expected identity:hexkey/],
    ['an empty identity', ':009d5638', /line 1: expected identity:hexkey/],
    ['a key that is not hex', 'qemu:zz', /line 1: the key must be 1 to 64 bytes in hex/],
    ['an odd number of hex digits', 'qemu:abc', /the key must be/],
    ['a key over 64 bytes (RFC 4279)', `qemu:${'ab'.repeat(65)}`, /the key must be/],
    ['an identity over 128 bytes', `${'i'.repeat(129)}:abcd`, /identity of 1 to 128 bytes/],
    ['no line at all', '# only a comment\n', /no identity:hexkey line/],
  ])('refuses %s', (_, text, message) => {
    expect(() => parsePskFile(text, 'keys.psk')).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it('builds PSK security from a file and an identity it holds', () => {
    const keys = file('keys.psk', 'source:00112233\n');
    expect(loadTransportSecurity({ tlsPskFile: keys, tlsIdentity: 'source' })).toEqual({ kind: 'psk', identity: 'source', keys: { source: '00112233' } });
    expect(() => loadTransportSecurity({ tlsPskFile: keys, tlsIdentity: 'nobody' })).toThrow(/no such identity/);
  });

  it('--token stands for a PSK whose key is derived from it: the token itself is nowhere in it', () => {
    const security = loadTransportSecurity({ token: 'correct horse battery staple' });
    expect(security.kind === 'psk' && security.identity).toBe(TOKEN_IDENTITY);
    const key = security.kind === 'psk' ? security.keys[TOKEN_IDENTITY] : '';
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(key!, 'hex').toString()).not.toContain('horse');
  });

  it.each([
    [{ token: 't', tlsPskFile: 'f' }, /one of/],
    [{ tlsCert: 'c', tlsKey: 'k' }, /all of --tls-cert, --tls-key and --tls-ca/],
    [{ tlsIdentity: 'x' }, /--tls-identity needs --tls-psk-file/],
    [{ tlsAllow: 'x' }, /--tls-allow goes with --tls-cert/],
    [{ insecure: true, token: 't' }, /--insecure goes with no TLS options/],
    [{ tlsPskFile: '/no/such/file' }, /--tls-psk-file \/no\/such\/file: ENOENT/],
  ])('refuses flags that do not go together: %j', (args, message) => {
    expect(() => loadTransportSecurity(args)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it('x509 needs an allow-list of peer names', () => {
    const pem = file('x.pem', 'PEM');
    expect(() => loadTransportSecurity({ tlsCert: pem, tlsKey: pem, tlsCa: pem })).toThrow(/needs --tls-allow/);
    expect(loadTransportSecurity({ tlsCert: pem, tlsKey: pem, tlsCa: pem, tlsAllow: 'a, b' })).toMatchObject({ kind: 'x509', allowedPeers: ['a', 'b'] });
  });

  it('secure by default: listening beyond loopback without credentials needs --insecure, and then warns', () => {
    const warnings: unknown[] = [];
    const log = Object.assign(silentLogger(), { warn: (...args: unknown[]) => void warnings.push(args) });
    expect(() => checkListenSecurity('0.0.0.0', { kind: 'none' }, false, log)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT', message: expect.stringMatching(/without TLS/) }));
    checkListenSecurity('127.0.0.1', { kind: 'none' }, false, log);
    checkListenSecurity('0.0.0.0', { kind: 'psk', keys: { a: '00' } }, false, log);
    expect(warnings).toHaveLength(0);
    checkListenSecurity('0.0.0.0', { kind: 'none' }, true, log);
    expect(warnings).toHaveLength(1);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.202.0.1', false],
    ['example.org', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });
});
