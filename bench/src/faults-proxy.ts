import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, encodeAccept, readFrameHeader, type AcceptMessage, type Frame } from '@livemig/protocol';

/**
 * The fault campaign's man in the middle: every connection of a migration passes through it, the control
 * connection (and the source's later outcome connections) on its main port, and each data channel on a port of
 * its own. It reads the control connection's frames from the destination so that it can rewrite Accept's
 * `channelPorts` to its own channel ports (the frame is encoded again, with a fresh CRC) and drop the first
 * Committed when told; everything else passes byte for byte. Faults are applied to the bytes as they are
 * forwarded, so its own frame reading never sees them.
 */

/** Which connection a fault aims at: the control connection, or data channel `index` (from 0). */
export type LinkTarget = { kind: 'control' } | { kind: 'channel'; index: number };

interface Pair {
  link: LinkTarget;
  client: Socket;
  target: Socket;
  ended: boolean;
}

/** Largest payload the proxy splits; it checks nothing itself, the peers do. */
const MAX_PAYLOAD = 0xffffffff;

export class FaultProxy {
  /** What the proxy did, in order: Accept rewritten, faults applied, faults that found nothing to act on. */
  readonly events: string[] = [];
  private readonly pairs: Pair[] = [];
  private readonly channelServers: Server[] = [];
  private stalled = false;
  private readonly stallWaiters: (() => void)[] = [];
  private pendingCut: LinkTarget | null = null;
  private pendingFlip: { link: LinkTarget; random: () => number } | null = null;
  private committedDropped = false;
  /** The first control connection's first frame from the source arrived (Hello): the migration began. */
  readonly helloSeen: Promise<void>;
  private onHello!: () => void;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetPort: number,
    private readonly dropCommitted: boolean,
  ) {
    this.helloSeen = new Promise((resolve) => (this.onHello = resolve));
    server.on('connection', (client) => this.accept(client, { kind: 'control' }, this.targetPort));
  }

  /** A proxy on 127.0.0.1 to the destination's main port; with `dropCommitted`, the first Committed never passes. */
  static async start(targetPort: number, options: { dropCommitted?: boolean } = {}): Promise<FaultProxy> {
    const server = await listenLocal();
    return new FaultProxy(server, (server.address() as { port: number }).port, targetPort, options.dropCommitted ?? false);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resets `link` now (both sides); a link not open yet is reset as soon as it opens. */
  cut(link: LinkTarget): void {
    const pair = this.find(link);
    if (pair) return this.reset(pair, `cut: reset ${describe(link)}`);
    this.pendingCut = link;
  }

  /** Stops forwarding on every connection, old and new, for `ms`; then forwards what waited, in order. */
  stall(ms: number): Promise<void> {
    this.stalled = true;
    for (const pair of this.pairs) {
      pair.client.pause();
      pair.target.pause();
    }
    this.events.push(`stall: ${this.pairs.filter((p) => !p.ended).length} open connections stopped for ${ms} ms`);
    return new Promise((resolve) =>
      setTimeout(() => {
        this.stalled = false;
        for (const pair of this.pairs) {
          pair.client.resume();
          pair.target.resume();
        }
        for (const wake of this.stallWaiters.splice(0)) wake();
        this.events.push('stall: forwarding again');
        resolve();
      }, ms),
    );
  }

  /** Flips one bit pattern in one byte of the next bytes forwarded on `link`, either way; `random` in [0, 1). */
  flip(link: LinkTarget, random: () => number): void {
    this.pendingFlip = { link, random };
  }

  /** Whether an armed cut or flip still waits for its connection or its bytes. */
  get pendingFault(): string | null {
    if (this.pendingCut) return `cut of ${describe(this.pendingCut)}`;
    if (this.pendingFlip) return `flip on ${describe(this.pendingFlip.link)}`;
    return null;
  }

  async close(): Promise<void> {
    for (const { client, target } of this.pairs) {
      client.destroy();
      target.destroy();
    }
    const servers = [this.server, ...this.channelServers];
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private find(link: LinkTarget): Pair | undefined {
    // The latest open connection of that link (a control link: the migration's, or an outcome connection).
    return [...this.pairs].reverse().find((p) => !p.ended && sameLink(p.link, link));
  }

  private accept(client: Socket, link: LinkTarget, port: number): void {
    client.pause();
    const target = connect(port, '127.0.0.1');
    const pair: Pair = { link, client, target, ended: false };
    const first = this.pairs.length === 0;
    this.pairs.push(pair);
    for (const socket of [client, target]) {
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => {
        pair.ended = true;
        // An end or a reset reaches the other side.
        const other = socket === client ? target : client;
        if (!other.destroyed) other.end();
      });
    }
    target.once('connect', () => {
      if (!this.stalled) client.resume();
      else this.stallWaiters.push(() => client.resume());
      if (this.pendingCut && sameLink(this.pendingCut, link)) {
        this.pendingCut = null;
        this.reset(pair, `cut: reset ${describe(link)} as it opened`);
      }
    });
    let chainToClient = Promise.resolve();
    const toClient = (bytes: Buffer): void => {
      chainToClient = chainToClient.then(() => this.forward(pair, target, client, bytes));
    };
    client.on('data', (chunk: Buffer) => {
      if (first && link.kind === 'control') this.onHello();
      void this.forward(pair, client, target, chunk);
    });
    if (link.kind === 'channel') {
      target.on('data', toClient);
      return;
    }
    let pending: Buffer = Buffer.alloc(0);
    const decoder = new FrameDecoder({ maxPayloadBytes: MAX_PAYLOAD });
    let raw = false;
    target.on('data', (chunk: Buffer) => {
      if (raw) return toClient(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= FRAME_HEADER_BYTES) {
        let length: number;
        let type: FrameType;
        try {
          const header = readFrameHeader(pending, 0, MAX_PAYLOAD);
          [length, type] = [FRAME_HEADER_BYTES + header.payloadLength, header.type];
        } catch {
          raw = true;
          toClient(pending);
          return;
        }
        if (pending.length < length) return;
        const bytes = Buffer.from(pending.subarray(0, length));
        pending = pending.subarray(length);
        if (type === FrameType.Accept) {
          const [frame] = decoder.push(bytes) as [Frame & { type: typeof FrameType.Accept }];
          chainToClient = chainToClient.then(async () => {
            const rewritten = await this.rewriteAccept(frame.message);
            await this.forward(pair, target, client, rewritten);
          });
        } else if (type === FrameType.Committed && this.dropCommitted && !this.committedDropped) {
          this.committedDropped = true;
          this.events.push('drop: Committed not forwarded');
        } else {
          toClient(bytes);
        }
      }
    });
  }

  /** Opens one proxy port per data channel and hands the source those ports instead of the destination's. */
  private async rewriteAccept(accept: AcceptMessage): Promise<Buffer> {
    const ports: number[] = [];
    for (const [index, port] of accept.channelPorts.entries()) {
      const server = await listenLocal();
      server.on('connection', (client) => this.accept(client, { kind: 'channel', index }, port));
      this.channelServers.push(server);
      ports.push((server.address() as { port: number }).port);
    }
    this.events.push(`accept: ${ports.length} data channels through the proxy`);
    return encodeAccept({ ...accept, channelPorts: ports });
  }

  private forward(pair: Pair, from: Socket, to: Socket, bytes: Buffer): Promise<void> {
    const flip = this.pendingFlip;
    if (flip && sameLink(flip.link, pair.link) && bytes.length > 0) {
      this.pendingFlip = null;
      const offset = Math.floor(flip.random() * bytes.length);
      const mask = 1 + Math.floor(flip.random() * 255);
      bytes = Buffer.from(bytes);
      bytes[offset]! ^= mask;
      const way = from === pair.client ? 'to the destination' : 'to the source';
      this.events.push(`flip: byte ${offset} of a ${bytes.length}-byte chunk ${way} on ${describe(pair.link)} xor 0x${mask.toString(16)}`);
    }
    return new Promise((resolve) => {
      if (to.destroyed) return resolve();
      to.write(bytes, () => resolve());
    });
  }

  private reset(pair: Pair, event: string): void {
    this.events.push(event);
    pair.client.resetAndDestroy();
    pair.target.resetAndDestroy();
  }
}

async function listenLocal(): Promise<Server> {
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function sameLink(a: LinkTarget, b: LinkTarget): boolean {
  return a.kind === b.kind && (a.kind === 'control' || a.index === (b as { index: number }).index);
}

export function describe(link: LinkTarget): string {
  return link.kind === 'control' ? 'the control connection' : `data channel ${link.index}`;
}
