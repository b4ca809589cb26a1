import type { IncomingMessage, ServerResponse } from 'node:http';
import { sameSecret, type ControlAccess } from './access.js';
import { DashboardSessions, clearedSessionCookie, sessionCookie, sessionOf } from './dashboard-sessions.js';
import { controlError, oneLine } from './errors.js';
import { readBody } from './json-body.js';
import { LoginAttempts } from './login-attempts.js';

/** A login form's body: `token=...`, URL-encoded; a token is at most 1024 characters (readControlToken). */
const LOGIN_BODY_LIMIT = 4096;

/**
 * The dashboard's login, for a control API with a bearer token (`--control-token-file`): GET /login shows a form,
 * POST /login with the right token (compared in constant time) sets the session cookie and sends the browser to
 * the dashboard, POST /logout ends the session. The server calls `handle` after its Host check and before
 * its token check, since these are how a browser gets past the latter. Wrong tokens are limited per address
 * (LoginAttempts).
 */
export class DashboardLogin {
  readonly sessions = new DashboardSessions();
  readonly attempts = new LoginAttempts();

  constructor(private readonly access: ControlAccess) {}

  /** Whether `method pathname` is the login's (then `handle` answers it). */
  handles(pathname: string): boolean {
    return pathname === '/login' || pathname === '/logout';
  }

  /** Whether the request carries a live session cookie. */
  hasSession(req: IncomingMessage): boolean {
    return this.sessions.valid(sessionOf(req));
  }

  /**
   * Answers /login and /logout.
   * @throws ControlError LM_ERR_FORBIDDEN for a POST from another origin; LM_ERR_METHOD_NOT_ALLOWED;
   *   LM_ERR_UNSUPPORTED_MEDIA_TYPE for a login body that is not a form; LM_ERR_PAYLOAD_TOO_LARGE;
   *   LM_ERR_TOO_MANY_LOGINS for a login from an address with too many wrong tokens just now
   */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<number> {
    const method = req.method ?? '';
    const allow = pathname === '/login' ? 'GET, POST' : 'POST';
    if (!allow.split(', ').includes(method)) {
      throw controlError('LM_ERR_METHOD_NOT_ALLOWED', `method ${method} not allowed on ${pathname} (allowed: ${allow})`, { headers: { allow } });
    }
    if (this.access.token === undefined) return redirect(res, '/');
    if (method === 'GET') return page(res, 200, '');
    checkSameOrigin(req);
    if (pathname === '/logout') {
      this.sessions.revoke(sessionOf(req));
      return redirect(res, '/login', clearedSessionCookie(req));
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw controlError('LM_ERR_UNSUPPORTED_MEDIA_TYPE', `a login is a form (application/x-www-form-urlencoded), got ${oneLine(type || 'none', 100)}`);
    }
    const address = req.socket.remoteAddress ?? 'unknown';
    this.attempts.check(address);
    const token = new URLSearchParams((await readBody(req, LOGIN_BODY_LIMIT)).toString('utf8')).get('token') ?? '';
    if (!sameSecret(token, this.access.token)) {
      this.attempts.failed(address);
      return page(res, 401, 'Wrong token.');
    }
    this.attempts.succeeded(address);
    return redirect(res, '/', sessionCookie(req, this.sessions.create()));
  }
}

/**
 * A browser puts Origin on every POST; the server refuses it elsewhere, but a login form is posted by this
 * agent's own page, so here it must be this agent's origin (a page of another site gets 403). No Origin at
 * all is a command-line client, which could as well send the token itself.
 */
function checkSameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) {
    throw controlError('LM_ERR_FORBIDDEN', `a login from another origin (${oneLine(origin, 200)}) is refused`);
  }
}

function redirect(res: ServerResponse, location: string, cookie?: string): number {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0, ...(cookie === undefined ? {} : { 'set-cookie': cookie }) });
  res.end();
  return 303;
}

/** The login form: no script, nothing loaded from anywhere, not to be framed by another page. */
function page(res: ServerResponse, status: number, message: string): number {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livemig: log in</title></head>
<body><h1>livemig control API</h1>
<p>The dashboard needs this agent's control token (the first line of its <code>--control-token-file</code>).</p>
${message === '' ? '' : `<p id="login-error" role="alert">${message}</p>`}
<form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button></form></body></html>
`;
  const body = Buffer.from(html, 'utf8');
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(body);
  return status;
}
