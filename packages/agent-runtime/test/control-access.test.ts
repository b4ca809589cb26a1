import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, ControlServer, EventStream, MAX_STRING_OPTION_CHARS, readOptions, type Route } from '@livemig/agent-runtime';

const TOKEN = 'a-long-enough-control-token-0123456789';

/** One request with full control of its headers (fetch forbids setting Host); resolves with status and body. */
function call(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text || 'null') }));
    });
    req.on('error', reject).end();
  });
}

// The control API's access checks sit in the server, before routing: every route, those added later too.
describe('control API access', () => {
  const events = new EventStream({ maxClients: 1 });
  const routes: Route[] = [
    { method: 'GET', path: '/status', handler: () => ({ status: 200, body: { ok: true } }) },
    { method: 'GET', path: '/added-later', handler: () => ({ status: 200, body: { ok: true } }) },
    { method: 'GET', path: '/events', handler: ({ req, res }) => (events.attach(req, res), 'streaming') },
  ];
  const server = new ControlServer(routes, { access: { token: TOKEN, allowedHosts: ['agent.internal'] } });
  let port: number;
  beforeAll(async () => {
    port = (await server.listen(0)).port;
  });
  afterAll(async () => {
    events.close();
    await server.close();
  });

  it('refuses a request without the bearer token, or with another, with 401 LM_ERR_UNAUTHORIZED', async () => {
    for (const path of ['/status', '/added-later', '/no-such-path']) {
      const missing = await call(port, path, { host: `127.0.0.1:${port}` });
      expect(missing).toMatchObject({ status: 401, body: { error: { code: 'LM_ERR_UNAUTHORIZED' } } });
    }
    const wrong = await call(port, '/status', { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}x` });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'LM_ERR_UNAUTHORIZED', message: 'wrong bearer token' } } });
    expect(await call(port, '/added-later', { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}` })).toMatchObject({ status: 200 });
  });

  it.each([
    ['a DNS-rebinding name', 'evil.example:80', 403],
    ['no port and another name', 'attacker.test', 403],
    ['localhost', 'localhost:1', 200],
    ['an IPv4 literal', '127.0.0.1:1', 200],
    ['an IPv6 literal', '[::1]:1', 200],
    ['a name on the allow-list', 'AGENT.internal:7400', 200],
  ])('checks Host: %s', async (_, host, status) => {
    const answer = await call(port, '/status', { host, authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(status);
    if (status === 403) expect(answer.body.error.code).toBe('LM_ERR_FORBIDDEN');
  });

  it('the client sends its token', async () => {
    const client = new ControlClient(`http://127.0.0.1:${port}`, { token: TOKEN });
    expect(await client.get('/status')).toEqual({ ok: true });
    await expect(new ControlClient(`http://127.0.0.1:${port}`).get('/status')).rejects.toMatchObject({ status: 401, code: 'LM_ERR_UNAUTHORIZED' });
  });

  it('caps event-stream clients: one more gets 429 LM_ERR_TOO_MANY_CLIENTS', async () => {
    const first = new AbortController();
    const client = new ControlClient(`http://127.0.0.1:${port}`, { token: TOKEN });
    const open = await fetch(`http://127.0.0.1:${port}/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: first.signal });
    expect(open.status).toBe(200);
    await expect(client.get('/events')).rejects.toMatchObject({ status: 429, code: 'LM_ERR_TOO_MANY_CLIENTS' });
    first.abort();
  });
});

describe('control API binding', () => {
  it('refuses to listen beyond loopback without a token, and warns with one', async () => {
    await expect(new ControlServer([]).listen(0, '0.0.0.0')).rejects.toMatchObject({ code: 'LM_ERR_BAD_ARGUMENT', message: expect.stringMatching(/--control-token-file/) });
    const warnings: string[] = [];
    const logger = { debug: () => {}, error: () => {}, warn: (_: object, message?: string) => void warnings.push(message ?? '') };
    const server = new ControlServer([], { access: { token: TOKEN }, logger });
    await server.listen(0, '0.0.0.0');
    expect(warnings).toEqual([expect.stringMatching(/reachable from the network/)]);
    await server.close();
  });
});

describe('string options', () => {
  it(`are at most ${MAX_STRING_OPTION_CHARS} characters unless a spec says otherwise`, () => {
    const schema = { target: { type: 'string' }, name: { type: 'string', maxLength: 4 } } as const;
    expect(readOptions({ target: 'x'.repeat(MAX_STRING_OPTION_CHARS) }, schema)).toEqual({ target: 'x'.repeat(MAX_STRING_OPTION_CHARS) });
    expect(() => readOptions({ target: 'x'.repeat(10_000) }, schema)).toThrow(`option "target" must be a string of at most ${MAX_STRING_OPTION_CHARS} characters`);
    expect(() => readOptions({ name: 'abcde' }, schema)).toThrow('a string of at most 4 characters');
  });
});
