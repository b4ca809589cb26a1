import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { BadArgumentError } from '@livemig/protocol';
import { isLoopback } from '../cli/tls-options.js';
import { controlError } from './errors.js';

/**
 * Who may use a control API. Checked by the server for every request before routing, so routes added later
 * are covered too. A migration is one POST away: whoever may call it can send the guest anywhere.
 */
export interface ControlAccess {
  /** Bearer token every request must carry (`Authorization: Bearer TOKEN`); required off loopback. */
  token?: string;
  /** Host names (besides localhost and IP literals) the API answers to in the `Host` header. */
  allowedHosts?: readonly string[];
}

/** The longest token taken from a file, and the shortest: a guessable token protects nothing. */
const MIN_TOKEN_CHARS = 16;
const MAX_TOKEN_CHARS = 1024;

/**
 * Checks a request against `access`: the `Host` header must be localhost, an IP literal or an allowed name (so
 * that a DNS-rebinding web page, whose requests carry its own domain, is refused), and the bearer token must
 * match, compared in constant time. `withSession`: the request carries a live dashboard session and is one
 * of the reads a session allows (dashboard-sessions.ts), which then stands for the token.
 * @throws ControlError LM_ERR_FORBIDDEN (403) for a Host not allowed; LM_ERR_UNAUTHORIZED (401) for a missing
 *   or wrong token
 */
export function checkAccess(req: IncomingMessage, access: ControlAccess, withSession = false): void {
  checkHost(req, access);
  if (access.token === undefined || withSession) return;
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (given === undefined || !sameSecret(given, access.token)) {
    throw controlError('LM_ERR_UNAUTHORIZED', given === undefined ? 'a bearer token is required (Authorization: Bearer ...)' : 'wrong bearer token', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
}

/**
 * The `Host` part of checkAccess alone (for the dashboard's login, which comes before the token).
 * @throws ControlError LM_ERR_FORBIDDEN (403) for a Host not allowed
 */
export function checkHost(req: IncomingMessage, access: ControlAccess): void {
  const host = hostName(req.headers.host);
  if (host === undefined || !hostAllowed(host, access.allowedHosts ?? [])) {
    throw controlError('LM_ERR_FORBIDDEN', `Host ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))} is not one this agent answers to (--control-allow-host)`);
  }
}

/**
 * A control API bound beyond loopback needs a token: without one, anyone who reaches the port could send the
 * guest (and the agent's credentials' trust) anywhere. With one, it still warns: the token crosses in clear
 * over plain HTTP.
 * @throws BadArgumentError when `host` is not loopback and there is no token
 */
export function checkControlBinding(host: string, access: ControlAccess, warn: (message: string) => void): void {
  if (isLoopback(host)) return;
  if (access.token === undefined) {
    throw new BadArgumentError(`--control-host ${host} is not loopback: give --control-token-file (anyone reaching the port could start migrations)`);
  }
  warn(`control API on ${host}, reachable from the network: plain HTTP, guarded by the bearer token only`);
}

/**
 * The token in `path` (its first line, trimmed).
 * @throws BadArgumentError when the file cannot be read or the token is shorter than 16 or longer than 1024 characters
 */
export function readControlToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new BadArgumentError(`--control-token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token.length < MIN_TOKEN_CHARS || token.length > MAX_TOKEN_CHARS || /\s/.test(token)) {
    throw new BadArgumentError(`--control-token-file ${path}: expected one token of ${MIN_TOKEN_CHARS} to ${MAX_TOKEN_CHARS} characters without spaces on its first line`);
  }
  return token;
}

/** The host name of a Host header (`name:port`, `[v6]:port`), lower-case; undefined when malformed. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 255) return undefined;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::\d{1,5})?$/.exec(header);
  return match?.[1]!.toLowerCase();
}

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  // An IP literal cannot be rebound: a web page can only make the browser send its own domain names.
  return bare === 'localhost' || isIP(bare) !== 0 || allowed.some((name) => name.toLowerCase() === bare);
}

/** Constant-time comparison of two secrets of any lengths (their SHA-256 digests are compared). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}
