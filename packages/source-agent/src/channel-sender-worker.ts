/**
 * One data channel of an outgoing migration (like a QEMU multifd send thread): owns its TCP connection, reads
 * its share of each round's pages straight from shared guest memory, encodes them and sends them. The main
 * thread only hands out page lists, so encoding runs on as many cores as there are channels.
 */
import { parentPort } from 'node:worker_threads';
import { GuestMemory } from '@livemig/guest';
import {
  FRAME_HEADER_BYTES,
  MAX_RUN_PAGES,
  PAGE_SIZE,
  PageBatchWriter,
  PageChecksums,
  encodeChannelHello,
  encodeRoundBegin,
  encodeRoundEnd,
  setZstdLevel,
  warmUpPageCodecsInBackground,
} from '@livemig/protocol';
import { CHANNEL_PROGRESS_INTERVAL_MS, FramedSocket, channelTestFault, connectTcp, errorSummary, markStep, strikeChannelTestFault, warmUpConnections } from '@livemig/agent-runtime/transport';
import { MAX_BATCH_PAGES, type SenderCommand, type SenderEvent, type SenderWorkerData } from './channel-messages.js';
import { CompressionChoice, isLoopbackHost } from './compression-choice.js';
import { DeltaCache } from './delta-cache.js';
import { runLength } from './page-runs.js';
import { SharedRateLimiter } from './rate-limiter.js';

const port = parentPort!;
const post = (event: SenderEvent): void => port.postMessage(event);
/** TEST ONLY: the failure LIVEMIG_TEST_FAIL_CHANNEL asks of this thread (see channelTestFault). */
const testFault = channelTestFault('source');

/** This thread's channel, connected and opened with ChannelHello. */
interface OpenChannel {
  sendRound(round: number, pages: Uint32Array, final: boolean, push: boolean): Promise<void>;
  /** Closes the connection once what was queued has been written. */
  close(): Promise<void>;
}

async function open(data: SenderWorkerData): Promise<OpenChannel> {
  const memory = GuestMemory.attach(data.memory);
  const checksums = PageChecksums.attach(data.checksums);
  markStep(`C${data.channel} start`);
  const socket = await connectTcp({ host: data.host, port: data.port }, data.connectTimeoutMs, data.security);
  const conn = new FramedSocket(socket, { idleTimeoutMs: data.idleTimeoutMs });
  await conn.send(encodeChannelHello({ reservationId: data.reservationId, channel: data.channel }));
  post({ type: 'opened', at: performance.timeOrigin + performance.now() });
  markStep(`C${data.channel} ChannelHello sent`);
  const writer = new PageBatchWriter();
  const cache = new DeltaCache(data.deltaCacheBytes);
  const snapshot = new Uint8Array(MAX_RUN_PAGES * PAGE_SIZE);
  const snapshotPage = snapshot.subarray(0, PAGE_SIZE);
  // One token bucket for the whole migration, shared by every channel (--max-bandwidth).
  const limiter = data.rateLimit === undefined ? undefined : SharedRateLimiter.attach(data.rateLimit);
  const send = async (frame: Buffer): Promise<void> => {
    if (limiter) await limiter.take(frame.length);
    await conn.send(frame);
  };
  /** The last sendParts' wait for the rate limit, ms (apart from the socket's: CompressionChoice's limitWaitMs). */
  let limitWaitMs = 0;
  // A batch's parts (a PageBatchDirect: head, then views of guest memory) go out as one gathered write.
  const sendParts = async (parts: Buffer[], bytes: number): Promise<void> => {
    const start = performance.now();
    if (limiter) await limiter.take(bytes);
    limitWaitMs = performance.now() - start;
    await (parts.length === 1 ? conn.send(parts[0]!) : conn.sendGathered(parts));
  };
  // How each batch is compressed (--compress): fixed, or chosen by what this channel measures (auto).
  const choice = new CompressionChoice(data.compress, data.zstdRuns, setZstdLevel, isLoopbackHost(data.host));
  writer.compression = choice.next();
  let batchStart = performance.now();
  let [compressibleIn, compressibleOut] = [0, 0];
  /** This round's time spent waiting to send (the socket draining, or the rate limit). */
  let waitedMs = 0;
  /** The round being sent (for the test-only fault). */
  let roundInFlight = 0;
  const sendBatch = async (): Promise<void> => {
    if (testFault) await strikeChannelTestFault(testFault, roundInFlight, conn.socket);
    const { compression, compressibleBytesIn, compressibleBytesOut } = writer;
    const pageBytes = writer.pageCount * PAGE_SIZE;
    const wireBytes = FRAME_HEADER_BYTES + writer.payloadBytes;
    const parts = writer.takeParts();
    const sendStart = performance.now();
    await sendParts(parts, wireBytes);
    const now = performance.now();
    waitedMs += now - sendStart;
    choice.sent({
      compression,
      pageBytes,
      wireBytes,
      compressibleBytes: compressibleBytesIn - compressibleIn,
      compressibleWireBytes: compressibleBytesOut - compressibleOut,
      wallMs: now - batchStart,
      waitMs: now - sendStart,
      limitWaitMs,
    });
    [compressibleIn, compressibleOut, batchStart] = [compressibleBytesIn, compressibleBytesOut, now];
    writer.compression = choice.next();
  };

  /** The `count` pages from `index` as a sparse run (PageBatchWriter.addSparseRun), sending the batch if full. */
  const addSparseRun = async (index: number, count: number): Promise<boolean> => {
    const first = memory.page(index);
    const run = new Uint8Array(first.buffer, first.byteOffset, count * PAGE_SIZE);
    let added = writer.pageCount < MAX_BATCH_PAGES ? writer.addSparseRun(index, run) : undefined;
    if (added === undefined) {
      await sendBatch();
      added = writer.addSparseRun(index, run);
    }
    if (added) for (let k = 0; k < count; k++) checksums.record(index + k, writer.runPageCrcs[k]!);
    return added === true;
  };

  const sendRound = async (round: number, pages: Uint32Array, final: boolean, push: boolean): Promise<void> => {
    const before = conn.bytesSent;
    roundInFlight = round;
    const roundStart = performance.now();
    markStep(`C${data.channel} round ${round} begins`);
    waitedMs = 0;
    let reportedAt = roundStart;
    // Live statistics: what this round has sent so far, at most every CHANNEL_PROGRESS_INTERVAL_MS.
    const progress = (pagesDone: number): void => {
      const now = performance.now();
      if (now - reportedAt < CHANNEL_PROGRESS_INTERVAL_MS) return;
      reportedAt = now;
      post({ type: 'progress', round, pages: pagesDone, bytes: conn.bytesSent - before });
    };
    // A post-copy push is page batches alone: the destination places each page only if it is still absent.
    if (!push) await send(encodeRoundBegin({ round, pages: pages.length }));
    batchStart = performance.now();
    // Round 1 carries every page once; pages sent again later are the ones worth caching for deltas. The
    // final round fills no cache: nothing follows it, so that would only add copies (and the first touch of
    // fresh cache memory) to the downtime. In the final round a delta only pays where the link is the
    // bottleneck: it costs a page about 2.5-3.5x the CPU of an lz4 run and saves bytes only (bench encode, the
    // incr cases; issue 11), and with the guest parked the time is the downtime.
    // Stop-and-copy lifted the rate limit: what the limit held back no longer holds the final round back.
    if (final && limiter !== undefined && limiter.rate === 0 && choice.limitLifted()) writer.compression = choice.next();
    const useDelta = cache.enabled && round > 1 && !push && (!final || choice.linkBound);
    const fillCache = useDelta && !final;
    // Raw pages straight from guest memory, when the destination reads them so; not from the snapshot (reused
    // for the next page before the batch is written) and not in a post-copy push (no digest check after it).
    writer.direct = data.directPages && !fillCache && !push;
    const hasCopy = useDelta ? (page: number) => cache.has(page) : undefined;
    for (let i = 0; i < pages.length; ) {
      const index = pages[i]!;
      // A sparse run (incr's pages) goes as one, cached copies or not: 0.5 us a page against 3.5 for a delta, for
      // ~7 more bytes a page (issue 11); and the round then costs a page what the final round will. Tried only
      // where deltas would be used (elsewhere addRun finds them); their copies are dropped, being stale now. In
      // pre-copy rounds only with the source's lead bounded (round-ack-v1): these rounds are cheap enough to run
      // ahead of a destination that nothing else holds back.
      if (useDelta && data.lz4Runs && (final || data.sparseRunsInPreCopy)) {
        const count = runLength(pages, i, memory.pagesPerSlot);
        if (count > 1 && (await addSparseRun(index, count))) {
          for (let k = 0; k < count; k++) cache.drop(index + k);
          i += count;
          continue;
        }
      }
      const previous = useDelta ? cache.get(index) : undefined;
      // Consecutive pages compress better together, when the destination reads runs (CAPABILITY_LZ4_RUNS); a
      // page with a cached copy goes alone, as a delta.
      const count = data.lz4Runs && previous === undefined ? runLength(pages, i, memory.pagesPerSlot, hasCopy) : 1;
      const first = memory.page(index);
      let run = count === 1 ? first : new Uint8Array(first.buffer, first.byteOffset, count * PAGE_SIZE);
      if (fillCache) {
        // Encode a snapshot, not the live pages: the cache must hold exactly the bytes that were sent. (In the
        // final round the vCPUs are parked, so the live pages are what is sent.)
        snapshot.set(run);
        run = count === 1 ? snapshotPage : snapshot.subarray(0, run.length);
      }
      if (writer.pageCount >= MAX_BATCH_PAGES || !addPages(writer, index, count, run, previous)) {
        if (writer.pageCount > 0) await sendBatch();
        progress(i);
        if (!addPages(writer, index, count, run, previous)) throw new Error(`pages ${index}..${index + count - 1} do not fit an empty batch`);
      }
      for (let k = 0; k < count; k++) {
        checksums.record(index + k, count === 1 ? writer.pageCrc : writer.runPageCrcs[k]!);
        if (fillCache) cache.put(index + k, count === 1 ? run : run.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
      }
      i += count;
    }
    if (writer.pageCount > 0) await sendBatch();
    if (!push) await send(encodeRoundEnd({ round, pages: pages.length }));
    markStep(`C${data.channel} round ${round} written`);
    const busyMs = performance.now() - roundStart - waitedMs;
    post({
      type: 'round-done',
      round,
      pages: pages.length,
      bytes: conn.bytesSent - before,
      stats: { pages: { ...writer.stats.pages }, bytes: { ...writer.stats.bytes } },
      deltaHits: cache.hits,
      batches: choice.takeCounts(),
      busyMs,
    });
  };

  const close = async (): Promise<void> => {
    // After commit the destination may already have closed its end: then there is nothing to wait for.
    if (conn.socket.destroyed) return;
    const closed = new Promise<void>((resolve) => conn.socket.once('close', () => resolve()));
    conn.close();
    await closed;
  };
  return { sendRound, close };
}

/** One page (`add`, against its previous copy if any) or a run of them (`addRun`); false when the batch is full. */
function addPages(writer: PageBatchWriter, index: number, count: number, pages: Uint8Array, previous: Uint8Array | undefined): boolean {
  return count === 1 ? writer.add(index, pages, previous) !== undefined : writer.addRun(index, pages);
}

let channel: OpenChannel | undefined;

async function run(command: SenderCommand): Promise<void> {
  if (command.type === 'start') {
    channel = await open(command.data);
  } else if (command.type === 'round') {
    if (!channel) throw new Error('round command before start');
    await channel.sendRound(command.round, command.pages, command.final, command.push ?? false);
  } else {
    await channel?.close();
    post({ type: 'finished' });
    port.close();
  }
}

// The main thread rebuilds the error with localErrorFromCode: a failure of this thread is ours, not the peer's.
function fail(error: unknown): void {
  post({ type: 'error', ...errorSummary(error) });
  port.close();
}

// Spawned ahead of the migration: the modules above are loaded; compile the page codecs while waiting for
// this channel's assignment (see warmUpPageCodecsInBackground), and stop doing so when it comes. Run the
// connection handling once too, so that connecting and ChannelHello are not this thread's first use of them.
const warmUp = warmUpPageCodecsInBackground();
void warmUpConnections();
// Commands run one at a time, in the order posted: the main thread posts round 1 right behind `start`, so the
// channel connects and sends its first round without waiting for the main thread in between.
let queue = Promise.resolve();
port.on('message', (command: SenderCommand) => {
  warmUp.stop();
  queue = queue.then(() => run(command)).catch(fail);
});
post({ type: 'online' });
