import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tempDir } from './agents.js';

/** Files of one agent's x509 credentials. */
export interface CertFiles {
  cert: string;
  key: string;
}

/**
 * Test credentials made at test time (never committed): a CA, certificates it signs for named peers, one from
 * a CA nobody trusts, and PSK files. Remove them with remove().
 */
export interface TestCredentials {
  dir: string;
  ca: string;
  /** A certificate for `name`, signed by the CA, naming it in its CN and DNS SAN, plus IP 127.0.0.1 unless `ip` is false. */
  cert(name: string, options?: { ip?: boolean }): CertFiles;
  /** A certificate for `name` signed by a CA of its own, which the agents do not trust. */
  untrustedCert(name: string): CertFiles;
  /** A PSK file with these identity:hexkey lines. */
  pskFile(name: string, lines: Record<string, string>): string;
  remove(): void;
}

export function randomPsk(): string {
  return randomBytes(32).toString('hex');
}

export function makeTestCredentials(): TestCredentials {
  const dir = tempDir();
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir.path, stdio: 'pipe' });
  const makeCa = (name: string): void =>
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${name}`);
  const sign = (name: string, ca: string, ip: boolean): CertFiles => {
    const ext = dir.file(`${ca}-${name}.ext`);
    writeFileSync(ext, `subjectAltName=DNS:${name}${ip ? ',IP:127.0.0.1' : ''}\n`);
    const file = `${ca}-${name}${ip ? '' : '-no-ip'}`;
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${file}.key`,
      '-out', `${file}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${file}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-days', '1', '-out', `${file}.pem`, '-extfile', ext);
    return { cert: dir.file(`${file}.pem`), key: dir.file(`${file}.key`) };
  };
  makeCa('test-ca');
  let untrustedCa = false;
  return {
    dir: dir.path,
    ca: dir.file('test-ca.pem'),
    cert: (name, options = {}) => sign(name, 'test-ca', options.ip ?? true),
    untrustedCert: (name) => {
      if (!untrustedCa) makeCa('untrusted-ca');
      untrustedCa = true;
      return sign(name, 'untrusted-ca', true);
    },
    pskFile: (name, lines) => {
      const path = dir.file(name);
      writeFileSync(path, Object.entries(lines).map(([identity, key]) => `${identity}:${key}\n`).join(''), { mode: 0o600 });
      return path;
    },
    remove: () => dir.remove(),
  };
}

/** The command-line flags of x509 credentials. */
export function certArgs(creds: TestCredentials, files: CertFiles, allow: string[]): string[] {
  return ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', creds.ca, '--tls-allow', allow.join(',')];
}
