import type { IncomingMessage, ServerResponse } from 'node:http';
import { controlError } from './errors.js';

export interface EventStreamOptions {
  /** Interval of the keep-alive comment; default 15000 ms. Proxies and clients drop streams silent for long. */
  heartbeatMs?: number;
  /** Events kept for clients that reconnect with `Last-Event-ID`; default 100, 0 keeps none. */
  backlog?: number;
  /** A client whose unsent output exceeds this many bytes is too slow and is dropped; default 1 MiB. */
  maxBufferedBytes?: number;
  /** Clients at once; one more is refused with LM_ERR_TOO_MANY_CLIENTS (429); default 32. */
  maxClients?: number;
}

interface Sent {
  id: number;
  frame: string;
}

/**
 * Server-sent events hub. Wire format per event (WHATWG HTML, "Server-sent events"):
 * `id: N\nevent: NAME\ndata: JSON\n\n`. JSON.stringify escapes newlines, so the data is always a single
 * `data:` line. Ids start at 1 and increase by one per published event.
 */
export class EventStream {
  private readonly clientSet = new Set<ServerResponse>();
  private readonly heartbeatMs: number;
  private readonly backlogSize: number;
  private readonly maxBufferedBytes: number;
  private readonly maxClients: number;
  private readonly backlog: Sent[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private lastId = 0;
  private closed = false;

  constructor(options: EventStreamOptions = {}) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.backlogSize = options.backlog ?? 100;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.maxClients = options.maxClients ?? 32;
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.clientSet.size;
  }

  /** Id of the last published event (0 before the first). */
  get lastEventId(): number {
    return this.lastId;
  }

  /**
   * Takes over `res`: answers 200 text/event-stream and keeps the response open until the client leaves or
   * close() is called. A client sending `Last-Event-ID: N` first gets the kept events after N.
   * @throws ControlError LM_ERR_TOO_MANY_CLIENTS when `maxClients` are connected (nothing is written then)
   */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.clientSet.size >= this.maxClients) {
      throw controlError('LM_ERR_TOO_MANY_CLIENTS', `${this.clientSet.size} event streams are open, this agent's limit`);
    }
    if (this.closed) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('event stream closed\n');
      return;
    }
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');
    const after = parseLastEventId(req.headers['last-event-id']);
    if (after !== undefined) {
      for (const sent of this.backlog) if (sent.id > after) res.write(sent.frame);
    }
    this.clientSet.add(res);
    res.once('close', () => this.remove(res));
    this.startHeartbeat();
  }

  /** Sends an event to every client; returns its id. `event` must be one line. */
  publish(event: string, data: unknown): number {
    if (/[\r\n]/.test(event) || event === '') throw new TypeError(`SSE event name must be one non-empty line: ${JSON.stringify(event)}`);
    if (this.closed) return this.lastId;
    const json = JSON.stringify(data ?? null);
    const id = ++this.lastId;
    const frame = `id: ${id}\nevent: ${event}\ndata: ${json}\n\n`;
    if (this.backlogSize > 0) {
      this.backlog.push({ id, frame });
      if (this.backlog.length > this.backlogSize) this.backlog.shift();
    }
    for (const res of this.clientSet) this.write(res, frame);
    return id;
  }

  /** Ends every stream; later attach() calls get 503 and publish() does nothing. Idempotent. */
  close(): void {
    this.closed = true;
    this.stopHeartbeat();
    for (const res of [...this.clientSet]) {
      this.clientSet.delete(res);
      if (!res.writableEnded) res.end();
    }
    this.backlog.length = 0;
  }

  private write(res: ServerResponse, chunk: string): void {
    if (res.writableLength > this.maxBufferedBytes) {
      this.remove(res);
      res.destroy();
      return;
    }
    res.write(chunk);
  }

  private remove(res: ServerResponse): void {
    this.clientSet.delete(res);
    if (this.clientSet.size === 0) this.stopHeartbeat();
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined || this.heartbeatMs <= 0) return;
    this.heartbeat = setInterval(() => {
      for (const res of this.clientSet) this.write(res, ': heartbeat\n\n');
    }, this.heartbeatMs);
    // The heartbeat alone must not keep the process alive.
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat === undefined) return;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

function parseLastEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
