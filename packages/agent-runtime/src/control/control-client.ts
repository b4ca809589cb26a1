import { BadArgumentError } from '@livemig/protocol';
import { ControlClientError, oneLine } from './errors.js';
import { SseParser } from './sse-parser.js';

export interface ControlEvent {
  event: string;
  /** The event's data parsed as JSON; the raw text when it is not JSON. */
  data: unknown;
  id?: string;
}

export interface ControlClientOptions {
  /** Time limit of each request (not of event streams); default 30000 ms. */
  timeoutMs?: number;
  /** Bearer token the agent requires (its --control-token-file). */
  token?: string;
}

/** Client of an agent's control API, for the CLI. `baseUrl` is `http://host:port` (a bare `host:port` works too). */
export class ControlClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly authorization: Record<string, string>;

  constructor(baseUrl: string, options: ControlClientOptions = {}) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(baseUrl) ? baseUrl : `http://${baseUrl}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new BadArgumentError(`control URL is not a URL: ${JSON.stringify(baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new BadArgumentError(`control URL must be http(s): ${JSON.stringify(baseUrl)}`);
    }
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.authorization = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** GET returning the body as text (e.g. /metrics). */
  async getText(path: string): Promise<string> {
    const url = this.url(path);
    const res = await this.fetch(url, { method: 'GET', signal: AbortSignal.timeout(this.timeoutMs) });
    const text = await this.readText(url, res);
    if (!res.ok) throw errorFromAnswer(url, res, text);
    return text;
  }

  /**
   * Server-sent events of `path`, in order. Ends when the server ends the stream or when `signal` aborts;
   * leaving the loop early closes the connection.
   */
  async *events(path = '/events', signal?: AbortSignal): AsyncGenerator<ControlEvent, void, undefined> {
    const url = this.url(path);
    let res: Response;
    try {
      res = await this.fetch(url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal: signal ?? null });
    } catch (err) {
      if (signal?.aborted === true) return;
      throw err;
    }
    if (!res.ok) throw errorFromAnswer(url, res, await this.readText(url, res));
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('text/event-stream') || res.body === null) {
      await res.body?.cancel();
      throw new ControlClientError(res.status, 'LM_ERR_BAD_RESPONSE', `${url} answered ${contentType || 'no content type'}, not an event stream`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (signal?.aborted === true) return;
          throw new ControlClientError(0, 'LM_ERR_CONNECT', `event stream ${url} broke: ${describeCause(err)}`, { cause: err });
        }
        if (chunk.done) return;
        for (const event of parser.push(chunk.value)) {
          const out: ControlEvent = { event: event.event, data: parseData(event.data) };
          if (event.id !== undefined) out.id = event.id;
          yield out;
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.url(path);
    const init: RequestInit = { method, signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    }
    const res = await this.fetch(url, init);
    const text = await this.readText(url, res);
    if (!res.ok) throw errorFromAnswer(url, res, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ControlClientError(res.status, 'LM_ERR_BAD_RESPONSE', `${url} answered ${res.status} with a body that is not JSON`);
    }
  }

  private url(path: string): string {
    return `${this.baseUrl}${path.startsWith('/') ? path : `/${path}`}`;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    init.headers = { ...(init.headers as Record<string, string> | undefined), ...this.authorization };
    try {
      return await fetch(url, init);
    } catch (err) {
      throw transportError(url, err);
    }
  }

  private async readText(url: string, res: Response): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw transportError(url, err, res.status);
    }
  }
}

function transportError(url: string, err: unknown, status = 0): unknown {
  if (err instanceof Error && err.name === 'TimeoutError') {
    return new ControlClientError(status, 'LM_ERR_TIMEOUT', `no answer from ${url} in time`, { cause: err });
  }
  // The caller's own abort stays an AbortError.
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new ControlClientError(status, 'LM_ERR_CONNECT', `cannot reach ${url}: ${describeCause(err)}`, { cause: err });
}

/** undici reports "fetch failed" and keeps the reason (ECONNREFUSED ...) in `cause`. */
function describeCause(err: unknown): string {
  let current: unknown = err;
  let text = 'unknown error';
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    text = typeof code === 'string' && !current.message.includes(code) ? `${code} ${current.message}` : current.message;
    current = current.cause;
  }
  return oneLine(text, 200);
}

function errorFromAnswer(url: string, res: Response, text: string): ControlClientError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      return new ControlClientError(res.status, code, oneLine(message));
    }
  }
  const statusText = res.statusText === '' ? '' : ` ${res.statusText}`;
  return new ControlClientError(res.status, 'LM_ERR_BAD_RESPONSE', `${url} answered HTTP ${res.status}${statusText}`);
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
