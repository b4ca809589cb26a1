import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient, type ControlEvent } from '../dist/control/control-client.js';
import { EventStream, type EventStreamOptions } from '../dist/control/event-stream.js';
import { ControlServer } from '../dist/control/http-server.js';
import { SseParser, type ServerSentEvent } from '../dist/control/sse-parser.js';
import { waitFor } from '../../../test/support/wait.js';

function parseInChunks(text: string, sizes: number[]): ServerSentEvent[] {
  const parser = new SseParser();
  const events: ServerSentEvent[] = [];
  let at = 0;
  for (let i = 0; at < text.length; i++) {
    const size = sizes[i % sizes.length]!;
    events.push(...parser.push(text.slice(at, at + size)));
    at += size;
  }
  return events;
}

describe('SseParser', () => {
  const stream = [
    ': connected',
    '',
    'id: 1',
    'event: progress',
    'data: {"round":1}',
    '',
    ': heartbeat',
    '',
    'data: first line',
    'data:second line',
    'data',
    '',
    'event: empty-has-no-data',
    '',
    'id: 7',
    'event: done',
    'retry: 1000',
    'unknown: field',
    'data:  two spaces',
    '',
  ];
  const expected: ServerSentEvent[] = [
    { event: 'progress', data: '{"round":1}', id: '1' },
    { event: 'message', data: 'first line\nsecond line\n', id: '1' },
    { event: 'done', data: ' two spaces', id: '7' },
  ];

  it.each(['\n', '\r\n', '\r'])('parses events with line ends %j, in chunks of every size', (eol) => {
    const text = stream.join(eol) + eol;
    for (const size of [1, 2, 3, 5, 7, 13, text.length]) {
      expect(parseInChunks(text, [size])).toEqual(expected);
    }
    expect(parseInChunks(text, [1, 4, 2, 9])).toEqual(expected);
  });

  it('drops an event cut off by the end of the stream', () => {
    expect(new SseParser().push('data: a\n\ndata: b\n')).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('ignores an id with NUL', () => {
    expect(new SseParser().push('id: a\0b\ndata: x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('EventStream with ControlClient.events', () => {
  let server: ControlServer | undefined;
  let hub: EventStream | undefined;
  /** What the server warned about: close() dropping connections when its grace ran out. */
  let warnings: string[] = [];
  afterEach(async () => {
    hub?.close();
    await server?.close();
  });

  async function start(options?: EventStreamOptions): Promise<{ hub: EventStream; client: ControlClient; base: string }> {
    hub = new EventStream(options);
    const h = hub;
    warnings = [];
    const ignore = (): void => {};
    server = new ControlServer([{ method: 'GET', path: '/events', handler: ({ req, res }) => (h.attach(req, res), 'streaming') }], {
      logger: { debug: ignore, error: ignore, warn: (_, msg) => void warnings.push(msg ?? '') },
      // Far longer than a test: a close() that resolves did not wait for it.
      closeGraceMs: 60_000,
    });
    const { host, port } = await server.listen(0);
    const base = `http://${host}:${port}`;
    return { hub, client: new ControlClient(base), base };
  }

  const until = (condition: () => boolean): Promise<void> => waitFor(condition, { what: 'the event stream' });

  it('delivers published events in order with incrementing ids, and server close ends the stream', async () => {
    const { hub, client } = await start();
    const received: ControlEvent[] = [];
    const done = (async () => {
      for await (const event of client.events()) received.push(event);
    })();
    await until(() => hub.clients === 1);
    for (let i = 1; i <= 50; i++) hub.publish(i % 2 === 0 ? 'progress' : 'state', { i, text: 'multi\nline' });
    await until(() => received.length === 50);
    expect(received[0]).toEqual({ event: 'state', data: { i: 1, text: 'multi\nline' }, id: '1' });
    expect(received.map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, k) => ({ i: k + 1, text: 'multi\nline' })));
    expect(received.map((e) => e.id)).toEqual(Array.from({ length: 50 }, (_, k) => String(k + 1)));

    // close() ends the open stream itself: the loop ends, and no connection was left for the grace to drop.
    await server!.close();
    await done;
    expect(warnings).toEqual([]);
    expect(hub.clients).toBe(0);
  });

  it('hub close ends every stream; later clients get 503', async () => {
    const { hub, client, base } = await start();
    const ended = [0, 1].map(async () => {
      const got: unknown[] = [];
      for await (const event of client.events()) got.push(event.data);
      return got;
    });
    await until(() => hub.clients === 2);
    hub.publish('state', 'running');
    hub.close();
    expect(await Promise.all(ended)).toEqual([['running'], ['running']]);
    expect(hub.clients).toBe(0);
    expect((await fetch(`${base}/events`)).status).toBe(503);
    expect(hub.publish('state', 'late')).toBe(1);
  });

  it('removes a client that leaves, and stops on abort', async () => {
    const { hub, client } = await start();
    const controller = new AbortController();
    const got: unknown[] = [];
    const done = (async () => {
      for await (const event of client.events('/events', controller.signal)) {
        got.push(event.data);
        if (got.length === 2) controller.abort();
      }
    })();
    await until(() => hub.clients === 1);
    hub.publish('a', 1);
    hub.publish('a', 2);
    await done;
    expect(got).toEqual([1, 2]);
    await until(() => hub.clients === 0);

    // Leaving a for-await loop early closes the connection too.
    const first = (async () => {
      for await (const event of client.events()) return event.data;
      return undefined;
    })();
    await until(() => hub.clients === 1);
    hub.publish('a', 3);
    expect(await first).toBe(3);
    await until(() => hub.clients === 0);
    // A client's pool may keep (or open) an idle connection: close() must not wait for it to time out. One
    // opened ahead of any request, as a pool does, is the kind Node's own close() leaves open.
    const { port } = server!.address!;
    const idle = connect(port, '127.0.0.1');
    const idleClosed = once(idle, 'close');
    await once(idle, 'connect');
    // Accepted before this stream's connection: connections are accepted in order.
    const last = (async () => {
      for await (const event of client.events()) return event.data;
      return undefined;
    })();
    await until(() => hub.clients === 1);
    hub.publish('a', 4);
    expect(await last).toBe(4);
    await server!.close();
    await idleClosed;
    expect(warnings).toEqual([]);
  });

  it('sends the connect comment, headers and heartbeats on the wire', async () => {
    const { hub, base } = await start({ heartbeatMs: 20 });
    const url = new URL(`${base}/events`);
    const { headers, text } = await new Promise<{ headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/events' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(': heartbeat\n\n') && !text.includes('event:')) hub.publish('x', { a: 1 });
          if (text.includes('data: {"a":1}\n\n')) {
            req.destroy();
            resolve({ headers: res.headers, text });
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(headers['cache-control']).toBe('no-cache');
    expect(headers.connection).toBe('keep-alive');
    expect(text.startsWith(': connected\n\n')).toBe(true);
    expect(text.endsWith('id: 1\nevent: x\ndata: {"a":1}\n\n')).toBe(true);
  });

  it('replays kept events after Last-Event-ID', async () => {
    const { hub, base } = await start({ backlog: 3 });
    for (let i = 1; i <= 5; i++) hub.publish('n', i);
    const controller = new AbortController();
    const res = await fetch(`${base}/events`, { headers: { 'last-event-id': '3' }, signal: controller.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    const events: ServerSentEvent[] = [];
    while (events.length < 2) events.push(...parser.push((await reader.read()).value!));
    controller.abort();
    expect(events.map((e) => e.data)).toEqual(['4', '5']);
  });

  it('rejects event names that would break the framing', async () => {
    const { hub } = await start();
    expect(() => hub.publish('a\nevent: b', 1)).toThrow(TypeError);
    expect(() => hub.publish('', 1)).toThrow(TypeError);
  });
});
