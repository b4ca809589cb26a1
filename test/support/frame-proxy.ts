import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, frameTypeName, readFrameHeader, type Frame } from '@livemig/protocol';

/**
 * A man in the middle for a migration's control connection, to test what each side does when a frame is lost,
 * late, or the connection dies at a chosen point. It listens on 127.0.0.1, opens a connection to the target
 * for each one it accepts, splits both byte streams into frames (the header gives each frame's length) and
 * decodes each with the protocol's FrameDecoder, then forwards the frame's exact bytes unless a rule says
 * otherwise. Data channels do not pass through it: Accept carries the destination's own channel ports.
 */

/** `toTarget`: from the side that connected (the source) to the target (the destination); `toClient`: back. */
export type Direction = 'toTarget' | 'toClient';
export type FrameName = keyof typeof FrameType;

export type ProxyAction =
  /** The frame is not forwarded; with `rest`, neither is anything after it this way (the connection stays open). */
  | { kind: 'drop'; rest?: boolean }
  /** The frame waits `ms`, or until `until` settles; later frames this way wait behind it, in order. */
  | { kind: 'delay'; ms?: number; until?: Promise<unknown> }
  /**
   * After the frame is forwarded (before it, with `before`), the connection is cut: `close` ends both sides
   * (FIN), `reset` destroys both (RST), `silent` keeps both open and forwards nothing more either way.
   */
  | { kind: 'cut'; how: CutHow; before?: boolean };
export type CutHow = 'close' | 'reset' | 'silent';

export interface ProxyRule {
  direction: Direction;
  frame: FrameName;
  /** Which occurrence on a connection fires it: 1 (the first) unless told. Fires once per connection. */
  nth?: number;
  /** Only on this connection, counting from 1 in the order accepted; on every connection unless told. */
  connection?: number;
  action: ProxyAction;
}

/** What became of a frame: `swallowed` arrived after a silent cut or a `drop rest`. */
export type Fate = 'forwarded' | 'delayed' | 'dropped' | 'swallowed';

export interface SeenFrame {
  connection: number;
  direction: Direction;
  name: FrameName;
  frame: Frame;
  fate: Fate;
  /** The rule that fired on this frame, if one did. */
  rule?: ProxyAction['kind'];
}

interface Pipe {
  direction: Direction;
  from: Socket;
  to: Socket;
  pending: Buffer;
  decoder: FrameDecoder;
  counts: Map<string, number>;
  /** Order of forwarding: every write goes through this chain, so a delayed frame holds back those behind it. */
  chain: Promise<void>;
  /** After `drop rest` or a decode error this way: what happens to later bytes. */
  mode: 'frames' | 'black-hole' | 'raw';
}

interface Connection {
  id: number;
  client: Socket;
  target: Socket;
  silent: boolean;
  cut: boolean;
  fired: Set<ProxyRule>;
}

/** Largest payload the proxy splits; it checks nothing itself, the peers do. */
const MAX_PAYLOAD = 0xffffffff;

export class FrameProxy {
  readonly seen: SeenFrame[] = [];
  /** Bytes the proxy could not split into frames; it forwards them as they are (and later ones) that way. */
  readonly errors: Array<{ connection: number; direction: Direction; error: Error }> = [];
  private readonly rules: ProxyRule[];
  private readonly connections: Connection[] = [];
  private readonly listeners = new Set<(seen: SeenFrame) => void>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
    rules: ProxyRule[],
  ) {
    this.rules = [...rules];
    server.on('connection', (client) => this.accept(client));
  }

  /** Starts a proxy to `target` on 127.0.0.1 and a free port. */
  static async start(target: { host?: string; port: number }, rules: ProxyRule[] = []): Promise<FrameProxy> {
    const server = createServer({ pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    return new FrameProxy(server, port, { host: target.host ?? '127.0.0.1', port: target.port }, rules);
  }

  /** `127.0.0.1:PORT`, for `--migrate-to`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far. */
  get connectionCount(): number {
    return this.connections.length;
  }

  /** Adds a rule for frames still to come. */
  addRule(rule: ProxyRule): void {
    this.rules.push(rule);
  }

  /** The first frame seen (already, or from now on) that matches, or a rejection after `timeoutMs`. */
  waitFor(
    name: FrameName,
    options: { direction?: Direction; connection?: number; fate?: Fate; timeoutMs?: number } = {},
  ): Promise<SeenFrame> {
    const matches = (seen: SeenFrame): boolean =>
      seen.name === name &&
      (options.direction === undefined || seen.direction === options.direction) &&
      (options.connection === undefined || seen.connection === options.connection) &&
      (options.fate === undefined || seen.fate === options.fate);
    const already = this.seen.find(matches);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`the proxy saw no ${name} matching ${JSON.stringify(options)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (seen: SeenFrame): void => {
        if (!matches(seen)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(seen);
      };
      this.listeners.add(listener);
    });
  }

  /** Cuts every connection now, as a `cut` rule would. */
  cutAll(how: CutHow): void {
    for (const connection of this.connections) this.cut(connection, how);
  }

  /** Stops listening and destroys every connection, silent ones included. */
  async close(): Promise<void> {
    for (const { client, target } of this.connections) {
      client.destroy();
      target.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const target = connect(this.target.port, this.target.host);
    const connection: Connection = { id: this.connections.length + 1, client, target, silent: false, cut: false, fired: new Set() };
    this.connections.push(connection);
    client.setNoDelay(true);
    target.setNoDelay(true);
    target.once('connect', () => client.resume());
    for (const [from, to, direction] of [[client, target, 'toTarget'], [target, client, 'toClient']] as const) {
      const pipe: Pipe = { direction, from, to, pending: Buffer.alloc(0), decoder: new FrameDecoder({ maxPayloadBytes: MAX_PAYLOAD }), counts: new Map(), chain: Promise.resolve(), mode: 'frames' };
      from.on('data', (chunk: Buffer) => this.onData(connection, pipe, chunk));
      // An end or a reset reaches the other side unless the connection went silent or this way is a black hole.
      from.on('end', () => {
        if (!connection.silent && pipe.mode !== 'black-hole') void pipe.chain.then(() => to.end());
      });
      from.on('error', () => {});
      from.on('close', (hadError) => {
        if (connection.silent || pipe.mode === 'black-hole') return;
        if (hadError) to.resetAndDestroy();
        else void pipe.chain.then(() => to.end());
      });
    }
  }

  private onData(connection: Connection, pipe: Pipe, chunk: Buffer): void {
    if (connection.cut && !connection.silent) return;
    if (pipe.mode === 'raw') {
      if (!connection.silent) this.forward(pipe, chunk);
      return;
    }
    pipe.pending = pipe.pending.length === 0 ? chunk : Buffer.concat([pipe.pending, chunk]);
    while (pipe.pending.length >= FRAME_HEADER_BYTES) {
      let bytes: Buffer;
      let frame: Frame;
      try {
        const header = readFrameHeader(pipe.pending, 0, MAX_PAYLOAD);
        const length = FRAME_HEADER_BYTES + header.payloadLength;
        if (pipe.pending.length < length) return;
        bytes = Buffer.from(pipe.pending.subarray(0, length));
        [frame] = pipe.decoder.push(bytes) as [Frame];
      } catch (error) {
        // Not frames (a hostile or broken peer): pass the bytes on as they are and let the peer judge them.
        this.errors.push({ connection: connection.id, direction: pipe.direction, error: error as Error });
        pipe.mode = 'raw';
        if (!connection.silent) this.forward(pipe, pipe.pending);
        pipe.pending = Buffer.alloc(0);
        return;
      }
      pipe.pending = pipe.pending.subarray(bytes.length);
      this.onFrame(connection, pipe, frame, bytes);
      // Frames behind a cut, even in the same chunk, never pass.
      if (connection.cut && !connection.silent) return;
    }
  }

  private onFrame(connection: Connection, pipe: Pipe, frame: Frame, bytes: Buffer): void {
    const name = frameTypeName(frame.type) as FrameName;
    const count = (pipe.counts.get(name) ?? 0) + 1;
    pipe.counts.set(name, count);
    const record = (fate: Fate, rule?: ProxyAction['kind']): void => {
      const seen: SeenFrame = { connection: connection.id, direction: pipe.direction, name, frame, fate, ...(rule ? { rule } : {}) };
      this.seen.push(seen);
      for (const listener of [...this.listeners]) listener(seen);
    };
    if (connection.silent || pipe.mode === 'black-hole') return record('swallowed');
    const rule = this.rules.find(
      (r) =>
        !connection.fired.has(r) &&
        r.direction === pipe.direction &&
        r.frame === name &&
        (r.nth ?? 1) === count &&
        (r.connection === undefined || r.connection === connection.id),
    );
    if (rule) connection.fired.add(rule);
    const action = rule?.action;
    switch (action?.kind) {
      case 'drop':
        if (action.rest) pipe.mode = 'black-hole';
        return record('dropped', 'drop');
      case 'delay': {
        const wait = action.until ?? new Promise((resolve) => setTimeout(resolve, action.ms ?? 0));
        pipe.chain = pipe.chain.then(() => wait.then(() => {}, () => {}));
        this.forward(pipe, bytes);
        return record('delayed', 'delay');
      }
      case 'cut':
        if (!action.before) this.forward(pipe, bytes);
        record(action.before ? 'dropped' : 'forwarded', 'cut');
        return this.cut(connection, action.how, pipe.chain);
      case undefined:
        this.forward(pipe, bytes);
        return record('forwarded');
    }
  }

  /** Writes `bytes` on once every earlier write this way is done. */
  private forward(pipe: Pipe, bytes: Buffer): void {
    pipe.chain = pipe.chain.then(
      () =>
        new Promise<void>((resolve) => {
          if (pipe.to.destroyed) return resolve();
          pipe.to.write(bytes, () => resolve());
        }),
    );
  }

  /**
   * From now on nothing more passes (a silent connection still reads and records); the sockets are ended or
   * reset once `after` (the writes queued before the cut) is done.
   */
  private cut(connection: Connection, how: CutHow, after: Promise<void> = Promise.resolve()): void {
    if (connection.cut) return;
    connection.cut = true;
    if (how === 'silent') {
      connection.silent = true;
      return;
    }
    const { client, target } = connection;
    void after.then(() => {
      if (how === 'close') {
        client.end();
        target.end();
        return;
      }
      // The written frame is in the peer's receive queue by now (loopback), and Linux lets the peer read what it
      // queued before the reset arrived.
      setImmediate(() => {
        client.resetAndDestroy();
        target.resetAndDestroy();
      });
    });
  }
}
