/**
 * One data channel of an incoming migration: listens on a port of its own, accepts exactly one connection
 * (which must open with the reservation's ChannelHello), then decodes page batches and applies them straight
 * into shared guest memory, recording each page's CRC and marking non-zero pages touched. Channels carry
 * disjoint pages (sharded by 64-page group), and each channel applies its pages in wire order, so no older
 * copy of a page ever overwrites a newer one.
 */
import { createServer, type Socket } from 'node:net';
import { parentPort } from 'node:worker_threads';
import { GuestMemory } from '@livemig/guest';
import {
  FrameType,
  HandshakeError,
  MigrationError,
  PageEncoding,
  TimeoutError,
  UnexpectedFrameError,
  frameTypeName,
  readPageBatch,
  warmUpPageCodecsInBackground,
} from '@livemig/protocol';
import { FramedSocket, PageChecksums, warmUpConnections } from '@livemig/source-agent';
import type { ReceiverCommand, ReceiverEvent, ReceiverWorkerData } from './channel-messages.js';

const port = parentPort!;
let data: ReceiverWorkerData;
const post = (event: ReceiverEvent): void => port.postMessage(event);
let connection: FramedSocket | undefined;

async function main(): Promise<void> {
  const memory = GuestMemory.attach(data.memory);
  const checksums = PageChecksums.attach(data.checksums);
  const socket = await acceptOne();
  const conn = new FramedSocket(socket, { idleTimeoutMs: data.idleTimeoutMs });
  connection = conn;
  const hello = await conn.receive(data.idleTimeoutMs, 'ChannelHello');
  if (
    hello.type !== FrameType.ChannelHello ||
    hello.message.reservationId !== data.reservationId ||
    hello.message.channel !== data.channel
  ) {
    throw new HandshakeError(`data channel ${data.channel} was not opened with this reservation's ChannelHello`);
  }
  // readPageBatch asks the sink for a page, applies the entry to it, then calls onPage for that same page:
  // keep the view it was given instead of making a second one per page.
  let applied: Uint8Array = new Uint8Array(0);
  const sink = { pageCount: memory.pageCount, page: (index: number) => (applied = memory.page(index)) };
  const onPage = (index: number, encoding: PageEncoding): void => {
    if (encoding === PageEncoding.Zero) {
      checksums.recordZero(index);
    } else {
      checksums.record(index, applied);
      memory.markTouched(index);
    }
  };
  let openRound = 0;
  let roundsDone = 0;
  let pages = 0;
  let bytesBefore = 0;
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
        if (openRound === 0) throw new UnexpectedFrameError(`channel ${data.channel}: page batch outside a round`);
        pages += readPageBatch(frame.payload, sink, onPage);
        // Applied: the frame's buffer may carry a later batch.
        conn.release(frame);
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

/** Listens on an ephemeral port and takes the first connection; the source has idleTimeoutMs to open it. */
function acceptOne(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      server.close();
      clearTimeout(timer);
      resolve(socket);
    });
    const timer = setTimeout(() => {
      server.close();
      reject(new TimeoutError(`data channel ${data.channel}: the source did not connect within ${data.idleTimeoutMs} ms`));
    }, data.idleTimeoutMs);
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.listen(0, data.host, () => {
      const address = server.address();
      post({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

function fail(error: unknown): void {
  const code = error instanceof MigrationError ? error.code : 'LM_ERR_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  post({ type: 'error', code, message });
  connection?.abort(error instanceof Error ? error : new Error(message));
}

// Spawned into the warm pool: the modules above are loaded; compile the page codecs while waiting for a
// channel to serve (see warmUpPageCodecsInBackground), and stop doing so when it comes. Run the connection
// handling once too, so that listening and ChannelHello are not this thread's first use of them.
const warmUp = warmUpPageCodecsInBackground();
void warmUpConnections();
port.on('message', (command: ReceiverCommand) => {
  warmUp.stop();
  if (command.type === 'listen') {
    data = command.data;
    main().catch(fail);
  } else {
    connection?.destroy();
    port.close();
    process.exit(0);
  }
});
post({ type: 'online' });
