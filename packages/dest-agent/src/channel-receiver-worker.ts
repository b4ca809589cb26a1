/**
 * One data channel of an incoming migration. Spawned into the warm pool, it listens at once on a port of its
 * own, so a reservation puts that port in Accept without waiting for this thread. Once assigned a reservation's
 * channel, it takes the first connection that opens with that reservation's ChannelHello: any other is aborted,
 * and one that came before the assignment waits for it, unread. It then decodes page batches and applies them
 * straight into shared guest memory, recording each page's CRC and marking non-zero pages touched. Channels
 * carry disjoint pages (sharded by 64-page group), and each channel applies its pages in wire order, so no
 * older copy of a page ever overwrites a newer one.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory, PresentMap } from '@livemig/guest';
import { PlacingSink } from './postcopy/placing-sink.js';
import {
  FrameType,
  HandshakeError,
  PAGE_SIZE,
  PageChecksums,
  PageEncoding,
  TimeoutError,
  UnexpectedFrameError,
  frameTypeName,
  readPageBatch,
  warmUpPageCodecsInBackground,
} from '@livemig/protocol';
import { CHANNEL_PROGRESS_INTERVAL_MS, FramedSocket, errorSummary, warmUpConnections } from '@livemig/agent-runtime/transport';
import type { ReceiverCommand, ReceiverEvent, ReceiverSpawnData, ReceiverWorkerData } from './channel-messages.js';

/** Connections held at once: the source opens one; until the assignment, strangers cannot pile up past this. */
const MAX_CONNECTIONS = 8;

const port = parentPort!;
const { host, idleTimeoutMs } = workerData as ReceiverSpawnData;
const post = (event: ReceiverEvent): void => port.postMessage(event);
let assign: (data: ReceiverWorkerData) => void = () => {};
const assigned = new Promise<ReceiverWorkerData>((resolve) => {
  assign = resolve;
});
/** The connection that opened this channel. */
let connection: FramedSocket | undefined;
let noSource: NodeJS.Timeout | undefined;

/** Makes `socket` this channel's connection if it opens with the assigned reservation's ChannelHello. */
async function offer(socket: Socket): Promise<void> {
  // A connection that comes before the assignment waits for it unread; silent that long, or failing, it goes.
  const drop = (): void => void socket.destroy();
  socket.setTimeout(idleTimeoutMs).on('timeout', drop).on('error', drop);
  const data = await assigned;
  socket.off('timeout', drop).off('error', drop);
  if (socket.destroyed) return;
  const conn = new FramedSocket(socket, { idleTimeoutMs: data.idleTimeoutMs });
  let opens = false;
  try {
    const hello = await conn.receive(data.idleTimeoutMs, 'ChannelHello');
    opens =
      hello.type === FrameType.ChannelHello &&
      hello.message.reservationId === data.reservationId &&
      hello.message.channel === data.channel;
  } catch {
    // closed, garbled or silent before its first frame: not this channel's source
  }
  if (!opens || connection) {
    conn.abort(new HandshakeError(`data channel ${data.channel} was not opened with this reservation's ChannelHello`));
    return;
  }
  connection = conn;
  clearTimeout(noSource);
  server.close();
  await serve(conn, data);
}

async function serve(conn: FramedSocket, data: ReceiverWorkerData): Promise<void> {
  const memory = GuestMemory.attach(data.memory);
  const checksums = PageChecksums.attach(data.checksums);
  // Pages placed by slot and offset: no view is made per page.
  const sink = {
    pageCount: memory.pageCount,
    slotOf: (index: number) => memory.slots[Math.floor(index / memory.pagesPerSlot)]!,
    offsetOf: (index: number) => (index % memory.pagesPerSlot) * PAGE_SIZE,
  };
  const onPage = (index: number, encoding: PageEncoding, pageCrc: number): void => {
    checksums.record(index, pageCrc);
    if (encoding !== PageEncoding.Zero) memory.markTouched(index);
  };
  const pushed = data.present ? new PushReceiver(memory, PresentMap.attach(data.present), checksums) : undefined;
  let openRound = 0;
  let roundsDone = 0;
  let pages = 0;
  let bytesBefore = 0;
  let reportedAt = performance.now();
  for (;;) {
    const frame = await conn.receive(undefined, 'pages');
    switch (frame.type) {
      case FrameType.RoundBegin:
        if (openRound !== 0 || frame.message.round !== roundsDone + 1) {
          throw new UnexpectedFrameError(`channel ${data.channel}: round ${frame.message.round} began out of order after round ${roundsDone}`);
        }
        openRound = frame.message.round;
        pages = 0;
        break;
      case FrameType.PageBatch:
        if (openRound === 0) {
          if (!pushed) throw new UnexpectedFrameError(`channel ${data.channel}: page batch outside a round`);
          await pushed.place(frame.payload, frame.rawPageCrcs);
          conn.release(frame);
          break;
        }
        pages += readPageBatch(frame.payload, sink, onPage, frame.rawPageCrcs);
        // Applied: the frame's buffer may carry a later batch.
        conn.release(frame);
        const now = performance.now();
        if (now - reportedAt >= CHANNEL_PROGRESS_INTERVAL_MS) {
          reportedAt = now;
          post({ type: 'progress', round: openRound, pages, bytes: conn.bytesReceived - bytesBefore });
        }
        break;
      case FrameType.RoundEnd:
        if (frame.message.round !== openRound || frame.message.pages !== pages) {
          throw new UnexpectedFrameError(
            `channel ${data.channel}: round ${frame.message.round} ended with ${frame.message.pages} pages announced, ${pages} received in round ${openRound}`,
          );
        }
        roundsDone = openRound;
        openRound = 0;
        post({ type: 'round-end', round: roundsDone, pages, bytes: conn.bytesReceived - bytesBefore });
        bytesBefore = conn.bytesReceived;
        break;
      default:
        throw new UnexpectedFrameError(`channel ${data.channel}: unexpected ${frameTypeName(frame.type)}`);
    }
  }
}

/**
 * Post-copy's push on this channel: page batches outside any round. They come only after PostcopyRun, but may be
 * read here before the main thread has switched the present map (startPostcopy bumps its generation): the first
 * one waits for that, then every page is placed only if absent.
 */
class PushReceiver {
  readonly #sink: PlacingSink;
  readonly #map: PresentMap;

  constructor(memory: GuestMemory, map: PresentMap, checksums: PageChecksums) {
    this.#map = map;
    this.#sink = new PlacingSink(memory, map, (index, crc) => checksums.record(index, crc));
  }

  async place(payload: Buffer, rawPageCrcs: readonly number[]): Promise<void> {
    await this.#map.untilSwitched();
    readPageBatch(payload, this.#sink, this.#sink.onPage, rawPageCrcs);
  }
}

// The main thread rebuilds the error with localErrorFromCode: a failure of this thread is ours, not the peer's.
function fail(error: unknown): void {
  const { code, message } = errorSummary(error);
  post({ type: 'error', code, message });
  connection?.abort(error instanceof Error ? error : new Error(message));
}

const server = createServer((socket) => void offer(socket).catch(fail));
server.maxConnections = MAX_CONNECTIONS;
// A worker that cannot listen fails to spawn: the pool never hands it out.
server.once('error', (error) => {
  throw error;
});
server.listen(0, host, () => post({ type: 'online', port: (server.address() as AddressInfo).port }));

// Spawned into the warm pool: the modules above are loaded; compile the page codecs while waiting for a
// channel to serve (see warmUpPageCodecsInBackground), and stop doing so when it comes. Run the connection
// handling once too, so that accepting and ChannelHello are not this thread's first use of them.
const warmUp = warmUpPageCodecsInBackground();
void warmUpConnections();
port.on('message', (command: ReceiverCommand) => {
  warmUp.stop();
  if (command.type === 'assign') {
    const data = command.data;
    noSource = setTimeout(() => {
      fail(new TimeoutError(`data channel ${data.channel}: the source did not connect within ${data.idleTimeoutMs} ms`));
    }, data.idleTimeoutMs);
    assign(data);
  } else {
    connection?.destroy();
    port.close();
    process.exit(0);
  }
});
