import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadArgumentError } from '@livemig/protocol';
import { ControlClient } from '../dist/control/control-client.js';
import { ControlClientError, ControlError } from '../dist/control/errors.js';
import { ControlServer } from '../dist/control/http-server.js';
import { clientFailure } from './client-failure.js';

let server: ControlServer;
let client: ControlClient;
let base: string;
/** Holds /slow's answer until the client under test has given up on it. */
let answerSlow!: () => void;
const slowAnswer = new Promise<void>((resolve) => (answerSlow = resolve));

beforeAll(async () => {
  server = new ControlServer([
    { method: 'GET', path: '/status', handler: () => ({ status: 200, body: { state: 'idle' } }) },
    { method: 'POST', path: '/echo', handler: ({ body }) => ({ status: 201, body }) },
    { method: 'PATCH', path: '/echo', handler: ({ body }) => ({ status: 200, body }) },
    { method: 'DELETE', path: '/migrations/:id', handler: ({ params }) => { throw new ControlError(404, 'LM_ERR_NOT_FOUND', `no migration "${params.id}"`); } },
    { method: 'DELETE', path: '/gone', handler: () => ({ status: 204, body: null }) },
    { method: 'GET', path: '/html', handler: () => ({ status: 502, text: '<h1>bad gateway</h1>', contentType: 'text/html' }) },
    { method: 'GET', path: '/not-json', handler: () => ({ status: 200, text: 'hello', contentType: 'text/plain' }) },
    { method: 'GET', path: '/slow', handler: async () => (await slowAnswer, { status: 200, body: 1 }) },
  ]);
  const { host, port } = await server.listen(0);
  base = `http://${host}:${port}`;
  client = new ControlClient(`${base}/`);
});

afterAll(async () => {
  await server.close();
});

describe('ControlClient', () => {
  it('gets, posts, patches and deletes JSON', async () => {
    expect(await client.get('/status')).toEqual({ state: 'idle' });
    expect(await client.get('status')).toEqual({ state: 'idle' });
    expect(await client.post('/echo', { target: 'h:1' })).toEqual({ target: 'h:1' });
    expect(await client.post('/echo')).toEqual({});
    expect(await client.patch('/echo', { maxRounds: 3 })).toEqual({ maxRounds: 3 });
    expect(await client.delete('/gone')).toBeUndefined();
  });

  it('throws the server error with status, code and message', async () => {
    const err = await clientFailure(client.delete('/migrations/m9'));
    expect(err).toMatchObject({ status: 404, code: 'LM_ERR_NOT_FOUND', message: 'no migration "m9"', name: 'ControlClientError' });
    expect(await clientFailure(client.post('/echo', [1]))).toMatchObject({
      status: 400,
      code: 'LM_ERR_BAD_REQUEST',
      message: 'request body must be a JSON object, got an array',
    });
    expect(await clientFailure(client.get('/echo'))).toMatchObject({ status: 405, code: 'LM_ERR_METHOD_NOT_ALLOWED' });
  });

  it('reports answers that are not the API', async () => {
    expect(await clientFailure(client.get('/html'))).toMatchObject({ status: 502, code: 'LM_ERR_BAD_RESPONSE', message: `${base}/html answered HTTP 502 Bad Gateway` });
    expect(await clientFailure(client.get('/not-json'))).toMatchObject({ status: 200, code: 'LM_ERR_BAD_RESPONSE' });
    expect(await clientFailure(collect(client.events('/status')))).toMatchObject({ code: 'LM_ERR_BAD_RESPONSE' });
    expect(await clientFailure(collect(client.events('/nope')))).toMatchObject({ status: 404, code: 'LM_ERR_NOT_FOUND' });
  });

  it('names the URL when nothing listens', async () => {
    const port = await freePort();
    const down = new ControlClient(`127.0.0.1:${port}`);
    const err = await clientFailure(down.get('/status'));
    expect(err.status).toBe(0);
    expect(err.code).toBe('LM_ERR_CONNECT');
    expect(err.message).toBe(`cannot reach http://127.0.0.1:${port}/status: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(await clientFailure(collect(down.events()))).toMatchObject({ code: 'LM_ERR_CONNECT' });
  });

  it('times out', async () => {
    const impatient = new ControlClient(base, { timeoutMs: 100 });
    // The answer is held until the client gave up: its timeout, not the server's pace, ends the call.
    expect(await clientFailure(impatient.get('/slow'))).toMatchObject({ status: 0, code: 'LM_ERR_TIMEOUT', message: `no answer from ${base}/slow in time` });
    answerSlow();
  });

  it('rejects a base URL that is not http', () => {
    expect(() => new ControlClient('ftp://x')).toThrow(BadArgumentError);
    expect(() => new ControlClient('http://[bad')).toThrow(BadArgumentError);
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A port that was free a moment ago: bind port 0, note it, let it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
