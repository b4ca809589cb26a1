import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { TLSSocket, checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { AuthError, encodeAbort } from '@livemig/protocol';
import type { HostPort } from '../units.js';

/**
 * How an agent's connections are secured, one value for every connection it makes or accepts (control,
 * data channels, outcome queries, and any connection added later): plain TCP, TLS 1.3 with pre-shared keys, or
 * TLS 1.3 with x509 certificates, both mutually authenticated (QEMU's tls-creds-psk and tls-creds-x509).
 * Plain data only (strings and records): it crosses to the channel threads in their workerData.
 */
export type TransportSecurity =
  | { kind: 'none' }
  | {
      kind: 'psk';
      /** The identity this agent presents when it connects (`--tls-identity`); a listener needs none. */
      identity?: string;
      /** Every identity this agent knows, with its key in hex (`--tls-psk-file`, lines `identity:hexkey`). */
      keys: Readonly<Record<string, string>>;
    }
  | {
      kind: 'x509';
      /** PEM text of this agent's certificate chain, its private key and the CA that signs its peers'. */
      cert: string;
      key: string;
      ca: string;
      /** Certificate names (subject CN or DNS SAN) accepted from a peer (`--tls-allow`). */
      allowedPeers: readonly string[];
    };

export const PLAINTEXT: TransportSecurity = Object.freeze({ kind: 'none' });

/**
 * TLS 1.3 only. With pre-shared keys Node (OpenSSL) allows only the SHA-256 suites of TLS 1.3; AES-128-GCM
 * first, as AES-NI runs it at several GB/s per core.
 */
const MIN_VERSION = 'TLSv1.3';
const PSK_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
const X509_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** One secure context per security value and role: building one parses the PEMs (milliseconds each time). */
const contexts = new WeakMap<TransportSecurity, { client?: SecureContext; server?: SecureContext }>();

function contextFor(security: Exclude<TransportSecurity, { kind: 'none' }>, role: 'client' | 'server'): SecureContext {
  const cached = contexts.get(security) ?? {};
  contexts.set(security, cached);
  const made =
    cached[role] ??
    (security.kind === 'psk'
      ? createSecureContext({ minVersion: MIN_VERSION, ciphers: PSK_CIPHERS })
      : createSecureContext({ minVersion: MIN_VERSION, ciphers: X509_CIPHERS, cert: security.cert, key: security.key, ca: security.ca }));
  cached[role] = made;
  return made;
}

/**
 * Secures a connection this agent opened to `target`: the TLS 1.3 handshake, the server's proof of the
 * pre-shared key or its certificate (signed by the CA, naming `target.host`, on the allow-list when one is
 * given). Plain TCP when `security` is none. On failure the socket is destroyed.
 * @throws AuthError naming why the peer was not authenticated; TimeoutError-free: `timeoutMs` gives AuthError too
 */
export function secureClient(socket: Socket, target: HostPort, security: TransportSecurity, timeoutMs: number): Promise<Socket> {
  if (security.kind === 'none') return Promise.resolve(socket);
  const where = `${target.host}:${target.port}`;
  let psk: { identity: string; psk: Buffer } | undefined;
  if (security.kind === 'psk') {
    const key = security.identity === undefined ? undefined : security.keys[security.identity];
    if (security.identity === undefined || key === undefined) {
      socket.destroy();
      return Promise.reject(new AuthError(`cannot connect to ${where} with TLS-PSK: no --tls-identity with a key in the PSK file`));
    }
    psk = { identity: security.identity, psk: Buffer.from(key, 'hex') };
  }
  const tls = tlsConnect({
    socket,
    host: target.host,
    ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
    secureContext: contextFor(security, 'client'),
    minVersion: MIN_VERSION,
    ...(psk
      ? {
          pskCallback: () => psk,
          // No certificate with a pre-shared key: the handshake itself proves the server holds the key.
          checkServerIdentity: () => undefined,
        }
      : {
          checkServerIdentity: (host: string, cert: PeerCertificate) =>
            checkServerIdentity(host, cert) ?? notAllowed(cert, security.kind === 'x509' ? security.allowedPeers : [], 'server'),
        }),
  });
  return handshake(tls, 'secureConnect', where, timeoutMs).then(
    () => tls,
    (error: unknown) => {
      socket.destroy();
      throw error;
    },
  );
}

/**
 * Secures a connection this agent accepted: the TLS 1.3 handshake as the server, the client's proof of a key of
 * the PSK file, or its certificate (signed by the CA, and naming a peer of the allow-list). A client that is
 * verified but not allowed hears why (an Abort with LM_ERR_AUTH over the secured connection). Plain TCP when
 * `security` is none. Nothing of the connection is read by us before this resolves.
 * @throws AuthError naming why the client was not authenticated (the socket is destroyed)
 */
export function secureServer(socket: Socket, security: TransportSecurity, timeoutMs: number): Promise<Socket> {
  if (security.kind === 'none') return Promise.resolve(socket);
  const where = `${socket.remoteAddress}:${socket.remotePort}`;
  let unknownIdentity: string | undefined;
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext: contextFor(security, 'server'),
    ...(security.kind === 'psk'
      ? {
          pskCallback: (_socket: TLSSocket, identity: string) => {
            const key = security.keys[identity];
            if (key === undefined) unknownIdentity = identity;
            return key === undefined ? null : Buffer.from(key, 'hex');
          },
        }
      : { requestCert: true, rejectUnauthorized: true }),
  });
  return handshake(tls, 'secure', where, timeoutMs).then(
    () => authorizeClient(tls, security, where),
    (error: AuthError) => {
      tls.destroy();
      socket.destroy();
      if (unknownIdentity !== undefined) throw new AuthError(`${where}: unknown PSK identity ${JSON.stringify(unknownIdentity.slice(0, 128))}`);
      throw error;
    },
  );
}

/**
 * A client whose handshake completed: with certificates, its chain verified and its name allowed; a PSK
 * handshake already proved the key. A verified client that is not allowed hears why, in an Abort over TLS.
 * @throws AuthError (the connection is ended)
 */
function authorizeClient(tls: TLSSocket, security: TransportSecurity, where: string): Socket {
  if (security.kind !== 'x509') return tls;
  const unverified = verifyError(tls);
  const refusal = unverified
    ? `the client certificate does not verify against the CA (${unverified})`
    : notAllowed(tls.getPeerCertificate(), security.allowedPeers, 'client')?.message;
  if (refusal === undefined) return tls;
  // TLS 1.3 lets the client finish its handshake before the server has checked its certificate: an Abort says why.
  tls.end(encodeAbort({ code: 'LM_ERR_AUTH', message: refusal }));
  setTimeout(() => tls.destroy(), 1000).unref();
  throw new AuthError(`${where}: ${refusal}`);
}

/**
 * Why the client's certificate chain does not verify, or undefined when it does. OpenSSL only records the
 * verdict during the handshake; Node's tls.Server reads it from the handle when the handshake is done
 * (onServerSocketSecure) and a server TLSSocket made on an accepted socket must do the same. Fails closed:
 * a Node without that handle method accepts no certificate.
 */
function verifyError(tls: TLSSocket): string | undefined {
  const handle = (tls as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'cannot read the verification result';
  const error = handle.verifyError();
  return error ? (error.code ?? error.message) : undefined;
}

/** The names a certificate gives its holder: its subject's CN and its DNS subject alternative names. */
export function certificateNames(cert: PeerCertificate): string[] {
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4));
  }
  return [...new Set(names)];
}

/** Why a verified certificate is not accepted, or undefined when it names a peer of the allow-list (or none is given for a server). */
function notAllowed(cert: PeerCertificate, allowed: readonly string[], role: 'client' | 'server'): Error | undefined {
  if (role === 'server' && allowed.length === 0) return undefined;
  const names = certificateNames(cert);
  if (names.some((name) => allowed.includes(name))) return undefined;
  return new Error(`${role} certificate names ${names.map((n) => JSON.stringify(n)).join(', ') || 'nothing'}, none on the allow-list (--tls-allow)`);
}

/** Resolves when `socket` emits `event` (handshake done); rejects with AuthError on its error, close or after `timeoutMs`. */
function handshake(socket: TLSSocket, event: 'secure' | 'secureConnect', where: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off(event, onSecure).off('error', onError).off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onSecure = (): void => done();
    const onError = (error: Error): void => done(tlsFailure(error, where));
    const onClose = (): void => done(new AuthError(`TLS handshake with ${where} failed: the peer closed the connection (an agent without TLS, or one that does not accept us)`));
    const timer = setTimeout(() => done(new AuthError(`TLS handshake with ${where} did not finish within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, onSecure).once('error', onError).once('close', onClose);
  });
}

/**
 * The AuthError for a TLS failure, naming its likely cause. OpenSSL's alerts say little (a wrong pre-shared
 * key reaches the client as "illegal parameter", an unknown identity as "handshake failure").
 */
export function tlsFailure(error: Error & { code?: string; reason?: string }, where: string): AuthError {
  const code = error.code ?? '';
  const cause = TLS_CAUSES.find(([pattern]) => pattern.test(code))?.[1];
  const detail = error.reason ?? error.message.split('\n')[0] ?? code;
  return new AuthError(`TLS handshake with ${where} failed${cause ? `: ${cause}` : ''} (${code || detail})`, { cause: error });
}

/** Whether `error` came from TLS (a failed handshake or an alert), by Node's error code. */
export function isTlsError(error: { code?: string }): boolean {
  return error.code !== undefined && (error.code.startsWith('ERR_SSL_') || error.code.startsWith('ERR_TLS_'));
}

/** Node's TLS error codes, and what they mean for our two agents. */
const TLS_CAUSES: ReadonlyArray<readonly [RegExp, string]> = [
  [/BINDER_DOES_NOT_VERIFY|ALERT_ILLEGAL_PARAMETER|DECRYPT/, 'the peer holds another key for this PSK identity'],
  [/NO_SUITABLE_SIGNATURE_ALGORITHM|ALERT_HANDSHAKE_FAILURE|NO_SHARED_CIPHER/, 'no credentials in common (unknown PSK identity, or PSK against certificates)'],
  [/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER|HTTP_REQUEST/, 'the peer does not speak TLS (give both agents credentials of one kind)'],
  [/ECONNRESET|EPIPE/, 'the peer cut the connection: an agent without TLS, or one that does not accept us'],
  [/ERR_TLS_CERT_ALTNAME_INVALID/, 'the server certificate names another host'],
  [/CERT|UNABLE_TO_VERIFY|SELF_SIGNED|UNKNOWN_CA|ALERT_BAD_CERTIFICATE/, 'the certificate does not verify against the CA'],
  [/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/, 'the client presented no certificate'],
];
