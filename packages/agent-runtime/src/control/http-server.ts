import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { checkAccess, checkControlBinding, checkHost, type ControlAccess } from './access.js';
import { DashboardLogin } from './dashboard-login.js';
import { readsWithSession } from './dashboard-sessions.js';
import { controlError, errorBody, toControlError } from './errors.js';
import { DEFAULT_BODY_LIMIT, readJsonObjectBody } from './json-body.js';
import { Router, type HttpMethod } from './router.js';

export type { HttpMethod } from './router.js';

export interface RouteContext {
  /** Path parameters, percent-decoded: `/migrations/:id` gives `{ id }`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** For POST and PATCH a JSON object (`{}` when the request had no body); undefined for GET and DELETE. */
  body: unknown;
  req: IncomingMessage;
  res: ServerResponse;
}

export type RouteResult =
  | { status: number; body: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> }
  /** The handler took over `res` (server-sent events); the server ends it on close(). */
  | 'streaming';

export type RouteHandler = (ctx: RouteContext) => RouteResult | Promise<RouteResult>;

export interface Route {
  method: HttpMethod;
  path: string;
  handler: RouteHandler;
}

/** The subset of a pino logger the server uses. */
export interface ControlLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ControlServerOptions {
  logger?: ControlLogger;
  /** Largest POST/PATCH body in bytes; default 64 KiB. */
  bodyLimit?: number;
  /** How long close() lets requests in flight finish before it drops their connections; default 5000 ms. */
  closeGraceMs?: number;
  /** Bearer token and Host names: checked on every request, before routing (see checkAccess). */
  access?: ControlAccess;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * JSON-over-HTTP server for the control API. Every answer is JSON with a trailing newline (except handlers
 * that return text or stream); every error is `{"error":{"code","message"}}` with a one-line message.
 */
export class ControlServer {
  private readonly router: Router<Route>;
  private readonly logger: ControlLogger | undefined;
  private readonly bodyLimit: number;
  private readonly closeGraceMs: number;
  private readonly access: ControlAccess;
  /** The dashboard's login and sessions (used only when `access` has a token). */
  private readonly login: DashboardLogin;
  private readonly streams = new Set<ServerResponse>();
  /** Open connections and how many of their requests are not answered yet. */
  private readonly sockets = new Map<Socket, number>();
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(routes: readonly Route[], options: ControlServerOptions = {}) {
    this.router = new Router(routes);
    this.logger = options.logger;
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.closeGraceMs = options.closeGraceMs ?? 5000;
    this.access = options.access ?? {};
    this.login = new DashboardLogin(this.access);
  }

  /** The bound address while listening. */
  get address(): ListenAddress | undefined {
    const address = this.server?.address();
    if (address === null || address === undefined || typeof address === 'string') return undefined;
    return { host: address.address, port: address.port };
  }

  /**
   * Binds the server; port 0 picks a free port. Resolves with the bound address.
   * @throws BadArgumentError (rejects) for an address beyond loopback without a bearer token
   */
  listen(port: number, host = '127.0.0.1'): Promise<ListenAddress> {
    if (this.server !== undefined || this.closing !== undefined) {
      return Promise.reject(new Error('control server: listen() after listen() or close()'));
    }
    try {
      checkControlBinding(host, this.access, (message) => this.logger?.warn({ host }, message));
    } catch (error) {
      return Promise.reject(error);
    }
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, 0);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        this.server = undefined;
        reject(err);
      });
      server.listen(port, host, () => {
        const address = server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /**
   * Stops accepting connections, ends open streams, lets requests in flight finish (for at most
   * `closeGraceMs`), and resolves once every connection is gone. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    for (const res of this.streams) endStream(res);
    // Connections without a request in flight (keep-alive, or opened ahead of time by a client pool) would
    // otherwise hold close() until the client's own idle timeout.
    for (const [socket, inFlight] of this.sockets) if (inFlight === 0) socket.destroySoon();
    const force = setTimeout(() => {
      this.logger?.warn({ graceMs: this.closeGraceMs }, 'control server: dropping connections still open');
      server.closeAllConnections();
    }, this.closeGraceMs);
    try {
      await closed;
    } finally {
      clearTimeout(force);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? '';
    if (this.closing !== undefined) res.setHeader('connection', 'close');
    const socket = req.socket;
    const inFlight = this.sockets.get(socket);
    if (inFlight !== undefined) {
      this.sockets.set(socket, inFlight + 1);
      res.once('close', () => {
        const open = this.sockets.get(socket);
        if (open === undefined) return;
        const left = open - 1;
        this.sockets.set(socket, left);
        if (this.closing !== undefined && left === 0) socket.destroySoon();
      });
    }
    let status = 0;
    try {
      const url = new URL(req.url ?? '/', 'http://control.invalid');
      // Browsers put Origin on cross-site requests, command-line clients do not: refusing it keeps a web page
      // from driving a local agent (a migration is one POST away).
      // The dashboard's login form is the exception: it checks that Origin is this agent's own.
      const login = this.login.handles(url.pathname);
      if (req.headers.origin !== undefined && !login) {
        throw controlError('LM_ERR_FORBIDDEN', `requests from a web page (Origin ${oneLineHeader(req.headers.origin)}) are refused`);
      }
      checkHost(req, this.access);
      if (login) {
        status = await this.login.handle(req, res, url.pathname);
        return;
      }
      const session = readsWithSession(method, url.pathname) && this.login.hasSession(req);
      if (this.access.token !== undefined && !session && method === 'GET' && url.pathname === '/' && req.headers.authorization === undefined) {
        // A browser opening the dashboard without a session: to the login form.
        status = 303;
        send(res, 303, 'text/plain', 'log in at /login\n', { location: '/login' });
        return;
      }
      // Before routing: every path, those added later included, needs the token (or for the dashboard's reads, a
      // session) and a Host this agent answers to.
      checkAccess(req, this.access, session);
      const match = this.router.match(method, url.pathname);
      if (match.kind === 'not-found') {
        throw controlError('LM_ERR_NOT_FOUND', `unknown path ${url.pathname}`);
      }
      if (match.kind === 'method-not-allowed') {
        const allow = match.allow.join(', ');
        throw controlError('LM_ERR_METHOD_NOT_ALLOWED', `method ${method} not allowed on ${url.pathname} (allowed: ${allow})`, {
          headers: { allow },
        });
      }
      const body = method === 'POST' || method === 'PATCH' ? await readJsonObjectBody(req, this.bodyLimit) : undefined;
      const result = await match.route.handler({ params: match.params, query: url.searchParams, body, req, res });
      if (result === 'streaming') {
        status = res.statusCode;
        this.trackStream(res);
        return;
      }
      status = result.status;
      if ('text' in result) {
        send(res, result.status, result.contentType, result.text, result.headers);
      } else {
        send(res, result.status, 'application/json', jsonText(result.body), result.headers);
      }
    } catch (err) {
      const error = toControlError(err);
      status = error.status;
      if (error.status >= 500) this.logger?.error({ err, method, url: req.url }, 'control request failed');
      try {
        if (res.headersSent) throw error;
        send(res, error.status, 'application/json', jsonText(errorBody(error)), error.headers);
      } catch {
        // Too late (or impossible) to answer with an error: cut the response so the client sees it is incomplete.
        res.destroy();
      }
    } finally {
      this.logger?.debug({ method, url: req.url, status, ms: Math.round(performance.now() - started) }, 'control request');
    }
  }

  private trackStream(res: ServerResponse): void {
    if (this.closing !== undefined) {
      endStream(res);
      return;
    }
    this.streams.add(res);
    res.once('close', () => this.streams.delete(res));
  }
}

function jsonText(body: unknown): string {
  return `${JSON.stringify(body ?? null)}\n`;
}

function send(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // 204 and 304 carry no body on the wire.
  if (status === 204 || status === 304) {
    res.writeHead(status).end();
    return;
  }
  const payload = Buffer.from(text, 'utf8');
  res.writeHead(status, {
    'content-type': contentType.includes('charset=') ? contentType : `${contentType}; charset=utf-8`,
    'content-length': payload.length,
    'cache-control': 'no-store',
  });
  res.end(payload);
}

function endStream(res: ServerResponse): void {
  if (!res.writableEnded) res.end();
}

function oneLineHeader(value: string): string {
  return JSON.stringify(value.slice(0, 200));
}
