import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, encodeAccept } from '@livemig/protocol';

/**
 * A man in the middle for a whole migration, control connection and data channels, that flips one byte on the
 * wire. The control connection passes byte for byte, except Accept, whose channel ports are replaced with ports
 * of this proxy (each forwarding to the destination's own); so the data channels pass through it too. On the
 * channels the proxy splits the source's bytes into frames by their headers and counts PageBatchDirect frames;
 * the first one with a Raw page gets the byte named by `flip` changed (once per migration, on whichever channel
 * carries it first), or nothing with `flip: 'none'`.
 */
export type FlipAt =
  /** The first byte of the first raw page of the batch: outside the frame CRC, caught at commit. */
  | 'raw-page'
  /** The low byte of the batch's entry count: a batch header byte, under the frame CRC. */
  | 'entry-count'
  /** The low byte of the first entry's page index: an entry byte, under the frame CRC. */
  | 'entry'
  | 'none';

export class ChannelCorruptor {
  /** PageBatchDirect frames seen on the data channels, and plain PageBatch frames. */
  directBatches = 0;
  plainBatches = 0;
  /** The index of the page whose raw bytes were flipped ('raw-page'), once done. */
  flippedPage: number | undefined;
  flipped = false;
  private readonly servers: Server[] = [];
  private readonly sockets: Socket[] = [];

  private constructor(
    private readonly control: Server,
    readonly port: number,
    private readonly target: number,
    private readonly flip: FlipAt,
  ) {
    control.on('connection', (client) => this.acceptControl(client));
  }

  static async start(targetPort: number, flip: FlipAt): Promise<ChannelCorruptor> {
    const server = await listen();
    return new ChannelCorruptor(server, (server.address() as { port: number }).port, targetPort, flip);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.control, ...this.servers].map((server) => new Promise((resolve) => server.close(resolve))));
  }

  private track(socket: Socket): Socket {
    this.sockets.push(socket);
    socket.on('error', () => {});
    return socket;
  }

  private acceptControl(client: Socket): void {
    this.track(client);
    const target = this.track(connect(this.target, '127.0.0.1'));
    client.on('data', (chunk) => target.write(chunk));
    client.on('end', () => target.end());
    target.on('end', () => client.end());
    // Toward the source: frames pass as they came, Accept with this proxy's channel ports.
    const decoder = new FrameDecoder();
    const frames = new FrameSplitter(async (frame) => {
      if (frame[5] === FrameType.Accept) {
        const [accept] = decoder.push(frame);
        if (accept?.type === FrameType.Accept) {
          const ports = await Promise.all(accept.message.channelPorts.map((port) => this.channelProxy(port)));
          client.write(encodeAccept({ ...accept.message, channelPorts: ports }));
          return;
        }
      }
      client.write(frame);
    });
    target.on('data', (chunk: Buffer) => frames.push(chunk));
  }

  private async channelProxy(targetPort: number): Promise<number> {
    const server = await listen();
    this.servers.push(server);
    server.on('connection', (client) => {
      this.track(client);
      const target = this.track(connect(targetPort, '127.0.0.1'));
      target.on('data', (chunk) => client.write(chunk));
      target.on('end', () => client.end());
      client.on('end', () => target.end());
      const frames = new FrameSplitter((frame) => {
        this.inspect(frame);
        target.write(frame);
      });
      client.on('data', (chunk: Buffer) => frames.push(chunk));
    });
    return (server.address() as { port: number }).port;
  }

  /** Counts page batches and flips the chosen byte of the first direct one with a Raw page. */
  private inspect(frame: Buffer): void {
    if (frame[5] === FrameType.PageBatch) this.plainBatches++;
    if (frame[5] !== FrameType.PageBatchDirect) return;
    this.directBatches++;
    const payload = FRAME_HEADER_BYTES;
    const rawAt = payload + 8 + frame.readUInt32BE(payload + 4);
    if (this.flipped || this.flip === 'none' || rawAt >= frame.length) return;
    this.flipped = true;
    if (this.flip === 'raw-page') {
      this.flippedPage = firstRawPage(frame, payload + 8, rawAt);
      frame[rawAt] ^= 0x01;
    } else if (this.flip === 'entry-count') {
      frame[payload + 3] ^= 0x01;
    } else {
      frame[payload + 8 + 3] ^= 0x01;
    }
  }
}

/** The index of the first Raw entry (encoding 3) of a direct batch's entries (Zero, SameByte and Raw only). */
function firstRawPage(frame: Buffer, from: number, to: number): number | undefined {
  for (let at = from; at + 5 <= to; ) {
    const encoding = frame[at + 4];
    if (encoding === 3) return frame.readUInt32BE(at);
    if (encoding === 0) at += 5;
    else if (encoding === 1) at += 6;
    else return undefined;
  }
  return undefined;
}

/** Cuts a byte stream into whole frames by their headers' length fields. */
class FrameSplitter {
  private pending = Buffer.alloc(0);
  private chain = Promise.resolve();
  constructor(private readonly onFrame: (frame: Buffer) => void | Promise<void>) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= FRAME_HEADER_BYTES) {
      const total = FRAME_HEADER_BYTES + this.pending.readUInt32BE(8);
      if (this.pending.length < total) return;
      const frame = Buffer.from(this.pending.subarray(0, total));
      this.pending = this.pending.subarray(total);
      this.chain = this.chain.then(() => this.onFrame(frame));
    }
  }
}

async function listen(): Promise<Server> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
