import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServer, EventStream, type Route } from '@livemig/agent-runtime';
import { DashboardSessions, SESSION_TTL_MS } from '../src/control/dashboard-sessions.js';
import { LOGIN_WINDOW_MS, LoginAttempts, MAX_FAILED_LOGINS, MAX_TRACKED_ADDRESSES } from '../src/control/login-attempts.js';

const TOKEN = 'a-long-enough-control-token-0123456789';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One request with full control of its headers (fetch forbids Host, Origin and Cookie), from `from` (another
 * loopback address stands for another client).
 */
function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string, from = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, localAddress: from, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject).end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

// The dashboard behind the control token: a login form trades the token for a session cookie that opens the
// dashboard's reads only (an EventSource cannot send an Authorization header), never the token itself.
describe('dashboard login', () => {
  const events = new EventStream();
  const ok = () => ({ status: 200, body: { ok: true } });
  const routes: Route[] = [
    { method: 'GET', path: '/', handler: () => ({ status: 200, text: '<p>dashboard</p>', contentType: 'text/html' }) },
    { method: 'GET', path: '/events', handler: ({ req, res }) => (events.attach(req, res), 'streaming') },
    { method: 'GET', path: '/migrations', handler: ok },
    { method: 'POST', path: '/migrations', handler: ok },
    { method: 'GET', path: '/migrations/:id', handler: ok },
    { method: 'GET', path: '/status', handler: ok },
  ];
  const server = new ControlServer(routes, { access: { token: TOKEN, allowedHosts: [] } });
  const open = new ControlServer(routes, {});
  let port: number;
  let openPort: number;
  beforeAll(async () => {
    port = (await server.listen(0)).port;
    openPort = (await open.listen(0)).port;
  });
  afterAll(async () => {
    events.close();
    await Promise.all([server.close(), open.close()]);
  });

  const login = (token: string, headers: Record<string, string> = {}) => call(port, 'POST', '/login', { ...FORM, ...headers }, new URLSearchParams({ token }).toString());
  const cookieOf = (answer: Answer): string => String(answer.headers['set-cookie']).split(';')[0]!;

  it('sends a browser without a session from the dashboard to the login form', async () => {
    const dashboard = await call(port, 'GET', '/', {});
    expect([dashboard.status, dashboard.headers.location]).toEqual([303, '/login']);
    const form = await call(port, 'GET', '/login', {});
    expect(form.status).toBe(200);
    expect(form.text).toContain('<form method="post" action="/login">');
    expect(form.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('refuses a wrong token, another origin, a body that is not a form, and a Host not allowed', async () => {
    const wrong = await login('not-the-token-at-all-000');
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.text).toContain('Wrong token.');
    expect((await login(TOKEN, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await call(port, 'POST', '/login', { 'content-type': 'application/json' }, JSON.stringify({ token: TOKEN }))).status).toBe(415);
    expect((await login(TOKEN, { host: 'rebound.example' })).status).toBe(403);
    expect((await call(port, 'PUT', '/login', {})).status).toBe(405);
  });

  it('the right token sets an HttpOnly, SameSite=Strict cookie with a random session that opens the dashboard reads only', async () => {
    const answer = await login(TOKEN, { origin: `http://127.0.0.1:${port}` });
    expect([answer.status, answer.headers.location]).toEqual([303, '/']);
    const setCookie = String(answer.headers['set-cookie']);
    expect(setCookie).toMatch(new RegExp(`^livemig_session_${port}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}$`));
    expect(setCookie).not.toContain(TOKEN);
    const cookie = { cookie: cookieOf(answer) };
    expect((await call(port, 'GET', '/', cookie)).status).toBe(200);
    expect((await call(port, 'GET', '/migrations', cookie)).status).toBe(200);
    expect((await call(port, 'GET', '/migrations/abc', cookie)).status).toBe(200);
    const stream = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/events', headers: { host: `127.0.0.1:${port}`, ...cookie } }, (res) => {
        resolve(res.statusCode!);
        res.destroy();
      });
      req.on('error', reject).end();
    });
    expect(stream).toBe(200);
    // Not what a session is for: the token is still needed.
    expect((await call(port, 'GET', '/status', cookie)).status).toBe(401);
    expect((await call(port, 'POST', '/migrations', { ...cookie, 'content-type': 'application/json' }, '{}')).status).toBe(401);
    // The Host allow-list still applies, and another port's cookie name is not this agent's.
    expect((await call(port, 'GET', '/', { ...cookie, host: 'rebound.example' })).status).toBe(403);
    expect((await call(port, 'GET', '/migrations', { cookie: cookie.cookie.replace(String(port), '1') })).status).toBe(401);
  });

  it('logout ends the session and clears the cookie', async () => {
    const cookie = { cookie: cookieOf(await login(TOKEN)) };
    const out = await call(port, 'POST', '/logout', { ...cookie, origin: `http://127.0.0.1:${port}` });
    expect([out.status, out.headers.location]).toEqual([303, '/login']);
    expect(String(out.headers['set-cookie'])).toMatch(/^livemig_session_\d+=; .*Max-Age=0$/);
    expect((await call(port, 'GET', '/migrations', cookie)).status).toBe(401);
    expect((await call(port, 'GET', '/', cookie)).status).toBe(303);
  });

  it('without a token there is nothing to log into', async () => {
    const form = await call(openPort, 'GET', '/login', {});
    expect([form.status, form.headers.location]).toEqual([303, '/']);
    expect((await call(openPort, 'GET', '/', {})).status).toBe(200);
  });
});

// A guesser gets MAX_FAILED_LOGINS wrong tokens per address and window, then 429 for every login (the right
// token too), while another address still logs in.
describe('dashboard login: wrong tokens are limited per address', () => {
  const server = new ControlServer([{ method: 'GET', path: '/', handler: () => ({ status: 200, text: 'ok', contentType: 'text/plain' }) }], {
    access: { token: TOKEN, allowedHosts: [] },
  });
  let port: number;
  beforeAll(async () => {
    port = (await server.listen(0)).port;
  });
  afterAll(() => server.close());
  const login = (token: string, from?: string) => call(port, 'POST', '/login', FORM, new URLSearchParams({ token }).toString(), from);

  it(`${MAX_FAILED_LOGINS} wrong tokens answer 401, then LM_ERR_TOO_MANY_LOGINS (429, Retry-After) for any token; another address logs in`, async () => {
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) expect((await login(`wrong-token-${i}`)).status).toBe(401);
    for (const token of ['wrong-token-again', TOKEN]) {
      const limited = await login(token);
      expect(limited.status).toBe(429);
      expect(JSON.parse(limited.text)).toEqual({ error: { code: 'LM_ERR_TOO_MANY_LOGINS', message: expect.stringMatching(/^5 wrong tokens from 127\.0\.0\.1: try again in \d+ s$/) } });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited.headers['set-cookie']).toBeUndefined();
    }
    expect((await login(TOKEN, '127.0.0.2')).status).toBe(303);
  });
});

describe('login attempts', () => {
  it('end with their window, are forgotten on a right token, and track a bounded number of addresses', () => {
    let now = 0;
    const attempts = new LoginAttempts(() => now);
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) {
      attempts.check('a');
      attempts.failed('a');
    }
    expect(() => attempts.check('a')).toThrow(expect.objectContaining({ code: 'LM_ERR_TOO_MANY_LOGINS', status: 429, headers: { 'retry-after': '60' } }));
    now = LOGIN_WINDOW_MS - 1;
    expect(() => attempts.check('a')).toThrow(expect.objectContaining({ headers: { 'retry-after': '1' } }));
    now = LOGIN_WINDOW_MS;
    expect(() => attempts.check('a')).not.toThrow();
    attempts.failed('b');
    attempts.succeeded('b');
    for (let i = 0; i < MAX_FAILED_LOGINS - 1; i++) attempts.failed('b');
    expect(() => attempts.check('b')).not.toThrow();
    for (let i = 0; i < MAX_TRACKED_ADDRESSES + 10; i++) attempts.failed(`10.0.${i >> 8}.${i & 255}`);
    expect(attempts.tracked).toBe(MAX_TRACKED_ADDRESSES);
  });
});

describe('dashboard sessions', () => {
  it('expire, end on revoke, and are capped (a new login ends the oldest)', () => {
    let now = 0;
    const sessions = new DashboardSessions(() => now);
    const first = sessions.create();
    expect(sessions.valid(first)).toBe(true);
    expect(sessions.valid(`${first}x`)).toBe(false);
    expect(sessions.valid(undefined)).toBe(false);
    now = SESSION_TTL_MS;
    expect(sessions.valid(first)).toBe(false);
    const many = Array.from({ length: 40 }, () => sessions.create());
    expect(sessions.size).toBe(32);
    expect(sessions.valid(many[0])).toBe(false);
    expect(sessions.valid(many[39])).toBe(true);
    sessions.revoke(many[39]);
    expect(sessions.valid(many[39])).toBe(false);
  });
});
