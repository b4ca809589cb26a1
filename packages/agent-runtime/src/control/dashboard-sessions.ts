import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Sessions kept at once; a new login past this ends the oldest. */
const MAX_SESSIONS = 32;
/** A session's life from its login; the cookie's Max-Age says the same to the browser. */
export const SESSION_TTL_MS = 12 * 3600_000;

/**
 * The dashboard's sessions, for a control API guarded by a bearer token. A browser's EventSource cannot send an
 * Authorization header, so a dashboard user logs in once with the token (POST /login) and gets a cookie holding
 * a random session value: never the token, useless once logged out or expired, and accepted only for the
 * dashboard's reads (`readsWithSession`). Only the SHA-256 of each value is kept, so looking one up costs the
 * same whatever it shares with a real one.
 */
export class DashboardSessions {
  /** SHA-256 (hex) of each live session value, with its expiry; in login order. */
  readonly #sessions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session: 32 random bytes, base64url. */
  create(): string {
    const value = randomBytes(32).toString('base64url');
    this.#prune();
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(digest(value), this.now() + SESSION_TTL_MS);
    return value;
  }

  /** Whether `value` is a live session's. */
  valid(value: string | undefined): boolean {
    if (value === undefined) return false;
    const expires = this.#sessions.get(digest(value));
    return expires !== undefined && expires > this.now();
  }

  revoke(value: string | undefined): void {
    if (value !== undefined) this.#sessions.delete(digest(value));
  }

  #prune(): void {
    const now = this.now();
    for (const [key, expires] of this.#sessions) if (expires <= now) this.#sessions.delete(key);
  }
}

/**
 * The session cookie's name. Cookies do not tell ports apart, so two agents on one host (a source and a
 * destination on 127.0.0.1) would overwrite each other's: the name carries the port.
 */
export function sessionCookieName(req: IncomingMessage): string {
  return `livemig_session_${req.socket.localPort ?? 0}`;
}

/** The session value the request's cookie carries, if any. */
export function sessionOf(req: IncomingMessage): string | undefined {
  const name = sessionCookieName(req);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a new session: not readable by scripts, never sent by another site's page. */
export function sessionCookie(req: IncomingMessage, value: string): string {
  return `${sessionCookieName(req)}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}`;
}

/** Set-Cookie that removes the session cookie. */
export function clearedSessionCookie(req: IncomingMessage): string {
  return `${sessionCookieName(req)}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
}

/**
 * What a session may do: GET the dashboard page and what it reads (its event stream, the migrations list and
 * one migration). Nothing that changes anything: starting, changing or cancelling a migration needs the token.
 */
export function readsWithSession(method: string, pathname: string): boolean {
  return method === 'GET' && /^\/(events|migrations(\/[^/]+)?)?$/.test(pathname);
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
