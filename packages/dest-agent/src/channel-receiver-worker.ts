/**
 * One data channel of an incoming migration. Spawned into the warm pool, it listens at once on a port of its
 * own. A connection that comes before a reservation assigns it a channel waits, unread, for the assignment
 * (bounded: MAX_OPENING of them, OPEN_TIMEOUT_MS each): the reservation's Accept names the port as soon as the
 * assignment is posted, with no round trip to this thread, so the source may connect before this thread has
 * read its assignment. Once assigned, it takes the first connection from
 * the source's address that authenticates and opens with the reservation's ChannelHello: any other is dropped
 * or aborted, and a few silent ones can never hold the port (MAX_OPENING). It then decodes page batches and applies them
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
  requirePlainBatch,
  warmUpPageCodecsInBackground,
} from '@livemig/protocol';
import { CHANNEL_PROGRESS_INTERVAL_MS, FramedSocket, channelTestFault, errorSummary, markStep, sameAddress, secureServer, strikeChannelTestFault, warmUpConnections } from '@livemig/agent-runtime/transport';
import type { ReceiverCommand, ReceiverEvent, ReceiverSpawnData, ReceiverWorkerData } from './channel-messages.js';

/**
 * Connections of the reserved source's address that may be opening this channel at once (TLS handshake and
 * ChannelHello). A new one beyond this evicts the oldest that has sent nothing yet (else the oldest): strangers
 * that connect and stay silent can never hold the port against the source, which speaks at once and leaves
 * this set as soon as its first bytes are read.
 */
const MAX_OPENING = 32;
/** How long a connection may take to authenticate and send ChannelHello (or the idle timeout, if shorter). */
const OPEN_TIMEOUT_MS = 10_000;

const port = parentPort!;
const { host, security } = workerData as ReceiverSpawnData;
/**
 * Plain TCP is read straight into the frame decoder's buffers (FramedSocket's readIntoOwnBuffers). TLS, and
 * LIVEMIG_DEST_READS=chunks (kept so that a benchmark can compare the two in one run), read through 'data'
 * chunks, which the decoder copies frames out of.
 */
const ownReads = security.kind === 'none' && process.env.LIVEMIG_DEST_READS !== 'chunks';
/**
 * With owned reads, runs of raw pages of PageBatchDirect frames are read straight into guest memory
 * (FramedSocket.placeRawPagesIn); LIVEMIG_DEST_READS=frames reads them into the frame's buffer and copies them,
 * the earlier path, kept for the same kind of comparison.
 */
const placeRawPages = ownReads && process.env.LIVEMIG_DEST_READS !== 'frames';
const post = (event: ReceiverEvent): void => port.postMessage(event);
/** TEST ONLY: the failure LIVEMIG_TEST_FAIL_CHANNEL asks of this thread (see channelTestFault). */
const testFault = channelTestFault('dest');
/** The reservation's channel, once assigned: until then every connection waits for it (waitForAssignment). */
let assignment: ReceiverWorkerData | undefined;
/** The connection that opened this channel. */
let connection: FramedSocket | undefined;
let noSource: NodeJS.Timeout | undefined;
/** Connections that came before the assignment, unread, oldest first, each with the timer that drops it. */
const early = new Map<Socket, NodeJS.Timeout>();
/** Connections authenticating or about to send ChannelHello, oldest first. */
const opening = new Set<Socket>();
/** Those of them whose first bytes (a TLS ClientHello, or ChannelHello) have arrived. */
const spoke = new WeakSet<Socket>();

/**
 * Makes `raw` this channel's connection if it comes from the reserved source's address, authenticates (TLS,
 * when the agent has credentials) and opens with the assigned reservation's ChannelHello. Anything else is
 * dropped: at once from another address, after a short timeout otherwise. Before the assignment it waits.
 */
async function offer(raw: Socket): Promise<void> {
  const data = assignment;
  if (!data && !connection) {
    waitForAssignment(raw);
    return;
  }
  if (!data || connection || !sameAddress(raw.remoteAddress, data.sourceAddress)) {
    raw.destroy();
    return;
  }
  if (opening.size >= MAX_OPENING) {
    const silent = [...opening].find((socket) => !spoke.has(socket) && socket.bytesRead === 0);
    (silent ?? opening.values().next().value)?.destroy();
  }
  const timeoutMs = Math.min(OPEN_TIMEOUT_MS, data.idleTimeoutMs);
  let conn: FramedSocket | undefined;
  let opens = false;
  try {
    if (ownReads) {
      // Adopted before its first read; its first frame is ChannelHello, awaited below.
      conn = new FramedSocket(raw, { idleTimeoutMs: data.idleTimeoutMs, readIntoOwnBuffers: true });
      raw = conn.socket;
    }
    opening.add(raw);
    const opened = raw;
    raw.once('close', () => opening.delete(opened));
    if (!conn) {
      // Unread until then: TLS (or the frame decoder) takes the buffered bytes when it wraps the socket.
      await firstBytes(raw, timeoutMs);
      spoke.add(raw);
      conn = new FramedSocket(await secureServer(raw, security, timeoutMs), { idleTimeoutMs: data.idleTimeoutMs });
    }
    const hello = await conn.receive(timeoutMs, 'ChannelHello');
    opens =
      hello.type === FrameType.ChannelHello &&
      hello.message.reservationId === data.reservationId &&
      hello.message.channel === data.channel;
  } catch {
    // not authenticated, closed, garbled or silent before its first frame: not this channel's source
  }
  opening.delete(raw);
  if (!conn) return;
  if (!opens || connection) {
    conn.abort(new HandshakeError(`data channel ${data.channel} was not opened with this reservation's ChannelHello`));
    return;
  }
  markStep(`R${data.channel} ChannelHello read`);
  connection = conn;
  clearTimeout(noSource);
  server.close();
  for (const other of opening) other.destroy();
  await serve(conn, data);
}

/**
 * Keeps `socket` until the assignment comes (then it is offered again), or drops it after OPEN_TIMEOUT_MS. At
 * most MAX_OPENING wait: a new one beyond that evicts the oldest, so strangers cannot fill the thread.
 */
function waitForAssignment(socket: Socket): void {
  if (early.size >= MAX_OPENING) {
    const [oldest, timer] = early.entries().next().value as [Socket, NodeJS.Timeout];
    clearTimeout(timer);
    early.delete(oldest);
    oldest.destroy();
  }
  const timer = setTimeout(() => socket.destroy(), OPEN_TIMEOUT_MS);
  early.set(socket, timer);
  socket.once('close', () => {
    clearTimeout(early.get(socket));
    early.delete(socket);
  });
}

/** Offers every connection that came before the assignment, oldest first. */
function offerEarlyConnections(): void {
  const waiting = [...early];
  early.clear();
  for (const [socket, timer] of waiting) {
    clearTimeout(timer);
    if (!socket.destroyed) void offer(socket).catch(fail);
  }
}

/** Resolves once `socket` has bytes to read (left unread); rejects when it closes or stays silent for `timeoutMs`. */
function firstBytes(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('readable', onReadable).off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onReadable = (): void => done();
    const onClose = (): void => done(new Error('closed before its first bytes'));
    const timer = setTimeout(() => done(new Error(`silent for ${timeoutMs} ms`)), timeoutMs);
    socket.on('readable', onReadable).once('close', onClose);
  });
}

/** Whether two socket addresses are the same host (an IPv4 address may appear IPv4-mapped on a dual-stack socket). */
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
  // Only pages of pre-copy rounds are placed at read time, and only once every earlier batch was applied.
  if (placeRawPages) conn.placeRawPagesIn(sink);
  const pushed = data.present ? new PushReceiver(memory, PresentMap.attach(data.present), checksums) : undefined;
  let openRound = 0;
  let roundsDone = 0;
  let pages = 0;
  let bytesBefore = 0;
  /** This round's time applying its batches (RoundAck's applyUs): the waits for the source's bytes left out. */
  let applyMs = 0;
  let reportedAt = performance.now();
  for (;;) {
    const frame = await conn.receive(undefined, 'pages');
    switch (frame.type) {
      case FrameType.RoundBegin:
        if (openRound !== 0 || frame.message.round !== roundsDone + 1) {
          throw new UnexpectedFrameError(`channel ${data.channel}: round ${frame.message.round} began out of order after round ${roundsDone}`);
        }
        openRound = frame.message.round;
        markStep(`R${data.channel} round ${openRound} begins`);
        pages = 0;
        applyMs = 0;
        break;
      case FrameType.PageBatch:
        if (openRound === 0) {
          if (!pushed) throw new UnexpectedFrameError(`channel ${data.channel}: page batch outside a round`);
          requirePlainBatch(frame, `on channel ${data.channel} in post-copy`);
          await pushed.place(frame.payload, frame.rawPageCrcs);
          conn.release(frame);
          break;
        }
        if (testFault) await strikeChannelTestFault(testFault, openRound, conn.socket);
        const applyStart = performance.now();
        pages += readPageBatch(frame.payload, sink, onPage, frame.rawPageCrcs, frame.rawAt, frame.rawPlaced);
        // Applied: the frame's buffer may carry a later batch.
        conn.release(frame);
        const now = performance.now();
        applyMs += now - applyStart;
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
        markStep(`R${data.channel} round ${roundsDone} applied`);
        openRound = 0;
        post({ type: 'round-end', round: roundsDone, pages, bytes: conn.bytesReceived - bytesBefore, applyMs });
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

  async place(payload: Buffer, rawPageCrcs: ArrayLike<number>): Promise<void> {
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

// With owned reads, accepted sockets wait unread: FramedSocket takes them over before their first read.
const server = createServer({ pauseOnConnect: ownReads }, (socket) => {
  // A socket that reads (TLS) fails on the peer's reset even while it waits for the assignment or its first
  // bytes, with no other listener yet: unheard, that error would end this thread. It is destroyed either way,
  // and 'close' (which every wait here listens for) tells the rest.
  socket.on('error', () => {});
  void offer(socket).catch(fail);
});
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
  // The one command: the thread is ended by terminate() (ChannelThreads), never by exiting on its own.
  warmUp.stop();
  const data = command.data;
  noSource = setTimeout(() => {
    fail(new TimeoutError(`data channel ${data.channel}: the source did not connect within ${data.idleTimeoutMs} ms`));
  }, data.idleTimeoutMs);
  markStep(`R${data.channel} assigned`);
  assignment = data;
  if (testFault?.round === 0) void strikeChannelTestFault(testFault, 0);
  offerEarlyConnections();
});
