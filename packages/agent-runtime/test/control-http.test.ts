import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadArgumentError, MigrationError } from '@livemig/protocol';
import { ControlError } from '../dist/control/errors.js';
import { ControlServer, type Route } from '../dist/control/http-server.js';
import { readOptions } from '../dist/control/options.js';

const START = {
  target: { type: 'string', required: true },
  maxRounds: { type: 'number', integer: true, min: 1 },
} as const;

const routes: Route[] = [
  { method: 'GET', path: '/status', handler: () => ({ status: 200, body: { state: 'idle' } }) },
  {
    method: 'POST',
    path: '/migrations',
    handler: ({ body }) => ({ status: 201, body: { id: 'm1', options: readOptions(body, START) } }),
  },
  { method: 'GET', path: '/migrations/:id', handler: ({ params, query }) => ({ status: 200, body: { id: params.id, verbose: query.get('verbose') } }) },
  { method: 'PATCH', path: '/migrations/:id', handler: ({ params, body }) => ({ status: 200, body: { id: params.id, body } }) },
  { method: 'DELETE', path: '/migrations/:id', handler: () => ({ status: 204, body: null }) },
  { method: 'POST', path: '/conflict', handler: () => { throw new ControlError(409, 'LM_ERR_CONFLICT', 'a migration is already running'); } },
  { method: 'GET', path: '/bad-argument', handler: () => { throw new BadArgumentError('downtime limit must be positive'); } },
  { method: 'GET', path: '/coded', handler: () => { throw new MigrationError('LM_ERR_PEER_CLOSED', 'peer went away\nmid-round'); } },
  { method: 'GET', path: '/crash', handler: () => { throw new Error('boom'); } },
  { method: 'GET', path: '/text', handler: () => ({ status: 200, text: 'a 1\n', contentType: 'text/plain; version=0.0.4' }) },
];

let server: ControlServer;
let base: string;

beforeAll(async () => {
  server = new ControlServer(routes);
  const { host, port } = await server.listen(0);
  base = `http://${host}:${port}`;
});

afterAll(async () => {
  await server.close();
});

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = body;
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  const isJson = res.headers.get('content-type')?.startsWith('application/json') === true;
  return { status: res.status, headers: res.headers, text, json: isJson ? (JSON.parse(text) as unknown) : undefined };
}

describe('ControlServer answers', () => {
  it('a GET with JSON and a trailing newline', async () => {
    const res = await call('GET', '/status');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.text).toBe('{"state":"idle"}\n');
  });

  it('path parameters decoded, and the query', async () => {
    const res = await call('GET', '/migrations/a%20b?verbose=1');
    expect(res.json).toEqual({ id: 'a b', verbose: '1' });
  });

  it('a POST with validated options', async () => {
    const res = await call('POST', '/migrations', '{"target":"127.0.0.1:7000","maxRounds":5}');
    expect(res.status).toBe(201);
    expect(res.json).toEqual({ id: 'm1', options: { target: '127.0.0.1:7000', maxRounds: 5 } });
  });

  it('a POST without a body or content type reads as {}', async () => {
    const res = await call('PATCH', '/migrations/m1');
    expect(res.json).toEqual({ id: 'm1', body: {} });
  });

  it('a 204 without a body', async () => {
    const res = await call('DELETE', '/migrations/m1');
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
  });

  it('text with its own content type', async () => {
    const res = await call('GET', '/text');
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.text).toBe('a 1\n');
  });
});

describe('ControlServer rejects', () => {
  it('malformed JSON with 400 and the parser reason', async () => {
    const res = await call('POST', '/migrations', '{"target": ');
    expect(res.status).toBe(400);
    const error = (res.json as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('LM_ERR_BAD_REQUEST');
    expect(error.message).toMatch(/^malformed JSON body: \S/);
    expect(error.message).not.toContain('\n');
  });

  it('a body that is not UTF-8', async () => {
    const res = await fetch(`${base}/migrations`, { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'LM_ERR_BAD_REQUEST', message: 'malformed JSON body: not valid UTF-8' } });
  });

  it.each([
    ['[1,2]', 'an array'],
    ['"x"', 'a string'],
    ['null', 'null'],
    ['3', 'a number'],
  ])('a body that is not an object (%s)', async (body, described) => {
    const res = await call('POST', '/migrations', body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_BAD_REQUEST', message: `request body must be a JSON object, got ${described}` } });
  });

  it('an unknown option', async () => {
    const res = await call('POST', '/migrations', '{"target":"x","maxRound":3}');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_BAD_REQUEST', message: 'unknown option "maxRound" (known: target, maxRounds)' } });
  });

  it('an option of the wrong type', async () => {
    const res = await call('POST', '/migrations', '{"target":"x","maxRounds":"x"}');
    expect(res.json).toEqual({ error: { code: 'LM_ERR_BAD_REQUEST', message: 'option "maxRounds" must be an integer >= 1, got "x"' } });
  });

  it('a content type that is not JSON with 415', async () => {
    const res = await call('POST', '/migrations', 'target=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
    expect((res.json as { error: { code: string } }).error.code).toBe('LM_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('an unknown path with 404', async () => {
    const res = await call('GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_NOT_FOUND', message: 'unknown path /nope' } });
    expect((await call('GET', '/migrations/')).status).toBe(404);
    expect((await call('GET', '/migrations/a/b')).status).toBe(404);
  });

  it('a known path with the wrong method with 405 and Allow', async () => {
    const res = await call('PUT', '/migrations/m1', '{}');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, PATCH, DELETE');
    expect((res.json as { error: { code: string } }).error.code).toBe('LM_ERR_METHOD_NOT_ALLOWED');
    const post = await call('DELETE', '/migrations');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('POST');
  });

  it('a body over 64 KiB with 413, and takes one of exactly 64 KiB', async () => {
    const padded = (size: number) => {
      const body = `{"target":"x","pad":"${'a'.repeat(size - 23)}"}`;
      expect(body.length).toBe(size);
      return body;
    };
    const over = await call('POST', '/migrations', padded(64 * 1024 + 1));
    expect(over.status).toBe(413);
    expect((over.json as { error: { code: string } }).error.code).toBe('LM_ERR_PAYLOAD_TOO_LARGE');
    // Exactly at the limit the body is read; it then fails on the unknown option, not on size.
    const at = await call('POST', '/migrations', padded(64 * 1024));
    expect(at.status).toBe(400);
    expect(at.text).toContain('unknown option \\"pad\\"');
  });

  it('a chunked body over the limit with 413', async () => {
    const { host, port } = server.address!;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host, port, method: 'POST', path: '/migrations', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 70; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('a body declared far over the limit with 413 before it is sent, closing the connection', async () => {
    const { host, port } = server.address!;
    const answer = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request(
        { host, port, method: 'POST', path: '/migrations', headers: { 'content-type': 'application/json', 'content-length': 10 * 1024 * 1024 } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
        },
      );
      req.on('error', reject);
      // Only the headers and a few bytes go out: the answer must not wait for the other 10 MiB.
      req.write('{"target":');
    });
    expect(answer).toEqual({ status: 413, connection: 'close' });
  });
});

describe('ControlServer turns thrown errors into', () => {
  it('the status of a ControlError', async () => {
    const res = await call('POST', '/conflict');
    expect(res.status).toBe(409);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_CONFLICT', message: 'a migration is already running' } });
  });

  it('400 for LM_ERR_BAD_ARGUMENT, keeping the code', async () => {
    const res = await call('GET', '/bad-argument');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_BAD_ARGUMENT', message: 'downtime limit must be positive' } });
  });

  it('500 with the error code and a one-line message', async () => {
    const res = await call('GET', '/coded');
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_PEER_CLOSED', message: 'peer went away mid-round' } });
  });

  it('500 LM_ERR_INTERNAL for an error without a code', async () => {
    const res = await call('GET', '/crash');
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ error: { code: 'LM_ERR_INTERNAL', message: 'boom' } });
  });
});

describe('ControlServer lifecycle', () => {
  it('rejects bad route tables', () => {
    const noop = () => ({ status: 200, body: null });
    expect(() => new ControlServer([{ method: 'GET', path: 'status', handler: noop }])).toThrow(/must start with/);
    expect(() => new ControlServer([{ method: 'GET', path: '/a/:id', handler: noop }, { method: 'GET', path: '/a/:name', handler: noop }])).toThrow(/duplicate route/);
  });

  it('reports a port in use', async () => {
    const other = new ControlServer([]);
    await expect(other.listen(server.address!.port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('closes with keep-alive connections open and logs requests', async () => {
    const lines: object[] = [];
    const warnings: string[] = [];
    const log = (obj: object) => void lines.push(obj);
    // A grace far longer than the test: close() resolving at all shows it did not wait for it.
    const s = new ControlServer(routes, {
      logger: { debug: log, warn: (obj, msg) => (log(obj), warnings.push(msg ?? '')), error: log },
      closeGraceMs: 60_000,
    });
    const { port } = await s.listen(0);
    // A connection opened ahead of any request, as a client pool does: Node's own close() leaves it open.
    // Opened first, it is accepted before the requests below are answered (connections are accepted in order).
    const idle = connect(port, '127.0.0.1');
    const idleClosed = once(idle, 'close');
    await once(idle, 'connect');
    expect((await fetch(`http://127.0.0.1:${port}/status`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/crash`)).status).toBe(500);
    await s.close();
    await idleClosed;
    expect(warnings).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ method: 'GET', url: '/status', status: 200 }));
    expect(lines).toContainEqual(expect.objectContaining({ err: expect.any(Error), url: '/crash' }));
    await s.close();
  });

  it('lets a request in flight finish on close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const s = new ControlServer([{ method: 'GET', path: '/slow', handler: async () => (arrived(), await gate, { status: 200, body: 'done' }) }]);
    const { port } = await s.listen(0);
    const answer = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.json());
    await inFlight;
    const closed = s.close();
    release();
    expect(await answer).toBe('done');
    await closed;
  });
});
