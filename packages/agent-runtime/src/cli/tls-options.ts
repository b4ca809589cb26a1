import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import type { Argv } from 'yargs';
import { BadArgumentError } from '@livemig/protocol';
import { PLAINTEXT, type TransportSecurity } from '../transport/transport-security.js';
import type { Logger } from './logger.js';

/** The command-line flags that say how an agent's connections are secured (README, "Security"). */
export interface TlsArguments {
  tlsPskFile?: string;
  tlsIdentity?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsAllow?: string;
  token?: string;
  insecure?: boolean;
}

/** RFC 4279: identities up to 128 bytes and keys up to 64 bytes must be supported; we take no more. */
const MAX_IDENTITY_BYTES = 128;
const MAX_KEY_BYTES = 64;
/** The PSK identity `--token` stands for (the token itself never crosses the wire: it derives the key). */
export const TOKEN_IDENTITY = 'livemig-token';

/** Adds the security flags to a command. */
export function withTlsOptions<T>(command: Argv<T>): Argv<T> {
  return command
    .option('tls-psk-file', { type: 'string', describe: 'TLS 1.3 with pre-shared keys: file of identity:hexkey lines (QEMU keys.psk)' })
    .option('tls-identity', { type: 'string', describe: 'the PSK identity this agent presents when it connects' })
    .option('tls-cert', { type: 'string', describe: 'TLS 1.3 with certificates: this agent\'s certificate (PEM)' })
    .option('tls-key', { type: 'string', describe: 'the private key of --tls-cert (PEM)' })
    .option('tls-ca', { type: 'string', describe: 'the CA certificate that signs the peers\' certificates (PEM)' })
    .option('tls-allow', { type: 'string', describe: 'comma-separated certificate names (CN or DNS) accepted from peers' })
    .option('token', { type: 'string', describe: 'shared secret: TLS-PSK with a key derived from it (never sent); prefer --tls-psk-file' })
    .option('insecure', { type: 'boolean', default: false, describe: 'allow plain TCP on a non-loopback address (warns)' }) as Argv<T>;
}

/**
 * The transport security the flags describe: PSK (`--tls-psk-file`, or `--token`), x509 (`--tls-cert`,
 * `--tls-key`, `--tls-ca`, `--tls-allow`) or none.
 * @throws BadArgumentError for flags that do not go together, an unreadable file or a malformed PSK line
 */
export function loadTransportSecurity(args: TlsArguments): TransportSecurity {
  const x509 = args.tlsCert !== undefined || args.tlsKey !== undefined || args.tlsCa !== undefined;
  const psk = args.tlsPskFile !== undefined || args.tlsIdentity !== undefined;
  const chosen = [x509, psk, args.token !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new BadArgumentError('give one of --tls-psk-file, --tls-cert or --token, not several');
  if (args.insecure && chosen > 0) throw new BadArgumentError('--insecure goes with no TLS options');
  if (args.token !== undefined) {
    if (args.token.length === 0 || args.token.length > 1024) throw new BadArgumentError('--token: expected 1 to 1024 characters');
    return { kind: 'psk', identity: TOKEN_IDENTITY, keys: { [TOKEN_IDENTITY]: tokenKey(args.token) } };
  }
  if (psk) {
    if (args.tlsPskFile === undefined) throw new BadArgumentError('--tls-identity needs --tls-psk-file');
    const keys = parsePskFile(readText(args.tlsPskFile, '--tls-psk-file'), args.tlsPskFile);
    if (args.tlsIdentity !== undefined && keys[args.tlsIdentity] === undefined) {
      throw new BadArgumentError(`--tls-identity ${args.tlsIdentity}: no such identity in ${args.tlsPskFile}`);
    }
    return { kind: 'psk', keys, ...(args.tlsIdentity === undefined ? {} : { identity: args.tlsIdentity }) };
  }
  if (x509) {
    if (args.tlsCert === undefined || args.tlsKey === undefined || args.tlsCa === undefined) {
      throw new BadArgumentError('TLS with certificates needs all of --tls-cert, --tls-key and --tls-ca');
    }
    const allowedPeers = (args.tlsAllow ?? '').split(',').map((name) => name.trim()).filter((name) => name.length > 0);
    if (allowedPeers.length === 0) throw new BadArgumentError('--tls-cert needs --tls-allow: the certificate names accepted from peers');
    return {
      kind: 'x509',
      cert: readText(args.tlsCert, '--tls-cert'),
      key: readText(args.tlsKey, '--tls-key'),
      ca: readText(args.tlsCa, '--tls-ca'),
      allowedPeers,
    };
  }
  if (args.tlsAllow !== undefined) throw new BadArgumentError('--tls-allow goes with --tls-cert');
  return PLAINTEXT;
}

/**
 * Secure by default: an agent that listens on an address other hosts can reach, without credentials, refuses to
 * start unless told `--insecure`, and then warns.
 * @throws BadArgumentError when `host` is not loopback, `security` is none and `insecure` is not set
 */
export function checkListenSecurity(host: string, security: TransportSecurity, insecure: boolean, log: Logger): void {
  if (security.kind !== 'none' || isLoopback(host)) return;
  if (!insecure) {
    throw new BadArgumentError(
      `listening on ${host} without TLS: anyone who reaches it could push or take a guest; give --tls-psk-file or --tls-cert (or --insecure)`,
    );
  }
  log.warn({ host }, 'listening on a non-loopback address without TLS (--insecure): any peer that reaches it is trusted');
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host.toLowerCase().startsWith('::ffff:127.');
  return false;
}

/**
 * Lines `identity:hexkey` (QEMU's keys.psk); blank lines and lines starting with # are skipped.
 * @throws BadArgumentError naming the line that is malformed
 */
export function parsePskFile(text: string, name: string): Record<string, string> {
  const keys: Record<string, string> = Object.create(null) as Record<string, string>;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.lastIndexOf(':');
    const identity = line.slice(0, colon);
    const key = line.slice(colon + 1).toLowerCase();
    const where = `${name} line ${index + 1}`;
    if (colon <= 0 || Buffer.byteLength(identity) > MAX_IDENTITY_BYTES) {
      throw new BadArgumentError(`${where}: expected identity:hexkey with an identity of 1 to ${MAX_IDENTITY_BYTES} bytes`);
    }
    if (!/^([0-9a-f]{2}){1,64}$/.test(key) || key.length / 2 > MAX_KEY_BYTES) {
      throw new BadArgumentError(`${where}: the key must be 1 to ${MAX_KEY_BYTES} bytes in hex`);
    }
    keys[identity] = key;
  });
  if (Object.keys(keys).length === 0) throw new BadArgumentError(`${name}: no identity:hexkey line`);
  return keys;
}

/** The PSK `--token` stands for: HMAC-SHA-256 keyed by a fixed label (a long random token gives a strong key). */
function tokenKey(token: string): string {
  return createHmac('sha256', 'livemig --token psk v1').update(token).digest('hex');
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new BadArgumentError(`${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}
