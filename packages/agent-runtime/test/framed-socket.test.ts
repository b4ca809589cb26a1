import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BadMagicError,
  CancelledError,
  FrameDecoder,
  FrameType,
  PeerClosedError,
  TimeoutError,
  encodeAbort,
  encodeFrame,
  encodeRoundBegin,
  type Frame,
} from '@livemig/protocol';
import { FramedSocket, type FramedSocketOptions } from '../dist/transport/framed-socket.js';
import { waitFor } from '../../../test/support/wait.js';

// FramedSocket over real loopback connections: the side under test is a FramedSocket, its peer a plain socket
// that writes exactly the bytes a test gives it (or a FramedSocket where both ends speak frames).

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A connected pair over 127.0.0.1: `framed` (our end, under test) and `peer` (the raw other end). */
async function connectedPair(options?: FramedSocketOptions): Promise<{ framed: FramedSocket; peer: Socket }> {
  const server = createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  sockets.push(client);
  await once(client, 'connect');
  const [peer] = await accepted;
  sockets.push(peer);
  return { framed: new FramedSocket(client, options), peer };
}

const round = (n: number): Buffer => encodeRoundBegin({ round: n, pages: 10 * n });

/** The settled state of a promise after the event loop has gone round once (timers and I/O included). */
async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return state;
}

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

function expectRound(frame: Frame, n: number): void {
  expect(frame).toEqual({ type: FrameType.RoundBegin, message: { round: n, pages: 10 * n } });
}

describe('FramedSocket: the first failure is sticky', () => {
  it('delivers the frames that arrived before the peer closed, then rejects every receive and send with the first failure', async () => {
    const { framed, peer } = await connectedPair();
    peer.end(Buffer.concat([round(1), round(2)]));
    await waitFor(() => framed.error !== undefined, { what: 'the end of the connection' });
    // 'end' came first and 'close' after it: the error kept is the first one.
    expect(framed.error).toBeInstanceOf(PeerClosedError);
    expect(framed.error?.message).toBe('peer closed the connection');
    expectRound(await framed.receive(), 1);
    expectRound(await framed.receive(), 2);
    const first = await rejectionOf(framed.receive());
    expect(first).toBe(framed.error);
    expect(await rejectionOf(framed.receive())).toBe(first);
    expect(await rejectionOf(framed.send(round(3)))).toBe(first);
    expect(framed.error).toBe(first);
  });

  it('a receive already waiting rejects with the failure when it comes', async () => {
    const { framed, peer } = await connectedPair();
    const waiting = framed.receive();
    expect(await stateOf(waiting)).toBe('pending');
    peer.destroy();
    const error = await rejectionOf(waiting);
    expect(error).toMatchObject({ code: 'LM_ERR_PEER_CLOSED' });
    expect(await rejectionOf(framed.receive())).toBe(error);
  });

  it('a stream that ends inside a frame fails with LM_ERR_TRUNCATED after the whole frames before it', async () => {
    const { framed, peer } = await connectedPair();
    const cut = round(2);
    peer.end(Buffer.concat([round(1), cut.subarray(0, cut.length - 1)]));
    expectRound(await framed.receive(), 1);
    expect(await rejectionOf(framed.receive())).toMatchObject({ code: 'LM_ERR_TRUNCATED' });
    expect(framed.error).toMatchObject({ code: 'LM_ERR_TRUNCATED' });
  });
});

describe('FramedSocket: a peer Abort', () => {
  it('is received after the frames queued before it, as the typed error it carries; send fails at once', async () => {
    const { framed, peer } = await connectedPair();
    const bytes = Buffer.concat([round(1), round(2), encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'operator said stop' })]);
    peer.write(bytes);
    await waitFor(() => framed.bytesReceived === bytes.length, { what: 'the three frames to arrive' });

    // Two frames are still queued, but sending is over already.
    const sendError = await rejectionOf(framed.send(round(9)));
    expect(sendError).toBeInstanceOf(CancelledError);
    expect(sendError.message).toBe('peer aborted: operator said stop');

    expectRound(await framed.receive(), 1);
    expectRound(await framed.receive(), 2);
    expect(await rejectionOf(framed.receive())).toBe(sendError);
    expect(await rejectionOf(framed.receive())).toBe(sendError);
    expect(framed.error).toBe(sendError);
  });

  it('stays the error after the peer closes behind it', async () => {
    const { framed, peer } = await connectedPair();
    peer.end(encodeAbort({ code: 'LM_ERR_DIGEST_MISMATCH', message: 'image differs' }));
    await once(framed.socket, 'close');
    const error = await rejectionOf(framed.receive());
    expect(error).toMatchObject({ code: 'LM_ERR_DIGEST_MISMATCH', message: 'peer aborted: image differs' });
    expect(framed.error).toBe(error);
    expect(await rejectionOf(framed.send(round(1)))).toBe(error);
  });

  it('rejects a receive already waiting at once', async () => {
    const { framed, peer } = await connectedPair();
    const waiting = framed.receive();
    peer.write(encodeAbort({ code: 'LM_ERR_TIMEOUT', message: 'no page for 60 s' }));
    const error = await rejectionOf(waiting);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe('peer aborted: no page for 60 s');
  });
});

describe('FramedSocket.abort', () => {
  /** Everything the peer reads until the connection ends, decoded. */
  async function framesUntilEnd(peer: Socket): Promise<{ frames: Frame[]; ended: boolean }> {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    let ended = false;
    peer.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    peer.on('end', () => (ended = true));
    await once(peer, 'close');
    return { frames, ended };
  }

  it('sends Abort with the error code and message, then closes; our side then fails with that error', async () => {
    const { framed, peer } = await connectedPair();
    const received = framesUntilEnd(peer);
    const cause = new TimeoutError('no Complete within 30000 ms');
    framed.abort(cause);
    const { frames, ended } = await received;
    expect(frames).toEqual([{ type: FrameType.Abort, message: { code: 'LM_ERR_TIMEOUT', message: 'no Complete within 30000 ms' } }]);
    // A FIN after the Abort, not a reset: the peer reads the reason before the end.
    expect(ended).toBe(true);
    expect(framed.error).toBe(cause);
    expect(await rejectionOf(framed.receive())).toBe(cause);
    expect(await rejectionOf(framed.send(round(1)))).toBe(cause);
  });

  it('says LM_ERR_INTERNAL for an error without a code, and cuts the message at 1000 characters', async () => {
    const { framed, peer } = await connectedPair();
    const received = framesUntilEnd(peer);
    framed.abort(new Error('x'.repeat(1500)));
    const { frames } = await received;
    expect(frames).toEqual([{ type: FrameType.Abort, message: { code: 'LM_ERR_INTERNAL', message: 'x'.repeat(1000) } }]);
  });

  it('after a failure sends nothing: the connection already ended for its own reason', async () => {
    const { framed, peer } = await connectedPair();
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    const peerClosed = once(peer, 'close');
    peer.end();
    await waitFor(() => framed.error !== undefined, { what: 'the end of the connection' });
    const first = framed.error;
    framed.abort(new CancelledError('cancelled'));
    await peerClosed;
    expect(received).toEqual([]);
    expect(framed.error).toBe(first);
  });
});

describe('FramedSocket: a decode error', () => {
  it('fails the connection with its code, and nothing after it is delivered', async () => {
    const { framed, peer } = await connectedPair();
    peer.write(round(1));
    expectRound(await framed.receive(), 1);
    // Sixteen bytes that are no frame header, then a good frame behind them.
    const garbage = Buffer.from('GET / HTTP/1.1\r\n');
    peer.write(Buffer.concat([garbage, round(2)]));
    const error = await rejectionOf(framed.receive());
    expect(error).toBeInstanceOf(BadMagicError);
    expect(error).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    expect(framed.error).toBe(error);
    // The good frame behind the garbage is never delivered, and more bytes change nothing.
    peer.write(round(3));
    expect(await rejectionOf(framed.receive())).toBe(error);
    expect(await rejectionOf(framed.send(round(4)))).toBe(error);
  });

  it('bad bytes behind good frames in one chunk: the good frames are delivered first, then the connection fails', async () => {
    const { framed, peer } = await connectedPair();
    peer.write(Buffer.concat([round(1), round(2), Buffer.from('GET / HTTP/1.1\r\n')]));
    expectRound(await framed.receive(), 1);
    expectRound(await framed.receive(), 2);
    const error = await rejectionOf(framed.receive());
    expect(error).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    expect(framed.error).toBe(error);
    expect(await rejectionOf(framed.send(round(3)))).toBe(error);
  });

  it('an oversize length prefix fails with LM_ERR_FRAME_TOO_LARGE from the header alone', async () => {
    const { framed, peer } = await connectedPair({ maxPayloadBytes: 1024 });
    const big = encodeFrame(FrameType.PageBatch, Buffer.alloc(2048));
    peer.write(big.subarray(0, 16));
    expect(await rejectionOf(framed.receive())).toMatchObject({ code: 'LM_ERR_FRAME_TOO_LARGE' });
  });
});

describe('FramedSocket backpressure', () => {
  const MAX_QUEUED = 1024 * 1024;

  it('send resolves at once below maxQueuedBytes, and above it waits until the kernel drained the queue', async () => {
    const { framed, peer } = await connectedPair({ maxQueuedBytes: MAX_QUEUED });
    peer.pause();
    await framed.send(round(1));
    expect(await stateOf(framed.send(round(2)))).toBe('resolved');

    // Far more than loopback's socket buffers hold while the peer reads nothing: most of it stays queued here.
    const big = encodeFrame(FrameType.PageBatch, Buffer.alloc(32 * 1024 * 1024));
    let drained = false;
    framed.socket.once('drain', () => (drained = true));
    const waiting = framed.send(big);
    expect(framed.socket.writableLength).toBeGreaterThan(MAX_QUEUED);
    expect(await stateOf(waiting)).toBe('pending');
    expect(drained).toBe(false);

    let read = 0;
    peer.on('data', (chunk: Buffer) => (read += chunk.length));
    peer.resume();
    await waiting;
    expect(drained).toBe(true);
    expect(framed.bytesSent).toBe(2 * round(1).length + big.length);
    await waitFor(() => read === framed.bytesSent, { what: 'the peer to read every byte' });
  });

  it('a peer Abort rejects a send waiting for drain with the typed error', async () => {
    const { framed, peer } = await connectedPair({ maxQueuedBytes: MAX_QUEUED });
    peer.pause();
    const waiting = framed.send(encodeFrame(FrameType.PageBatch, Buffer.alloc(32 * 1024 * 1024)));
    expect(await stateOf(waiting)).toBe('pending');
    peer.write(encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'stop' }));
    const error = await rejectionOf(waiting);
    expect(error).toBeInstanceOf(CancelledError);
    expect(framed.error).toBe(error);
  });

  it('a connection reset rejects a send waiting for drain', async () => {
    const { framed, peer } = await connectedPair({ maxQueuedBytes: MAX_QUEUED });
    peer.pause();
    const waiting = framed.send(encodeFrame(FrameType.PageBatch, Buffer.alloc(32 * 1024 * 1024)));
    expect(await stateOf(waiting)).toBe('pending');
    peer.resetAndDestroy();
    const error = await rejectionOf(waiting);
    expect(error).toBeInstanceOf(PeerClosedError);
    expect(framed.error).toBe(error);
  });
});

describe('FramedSocket timeouts', () => {
  it('a receive timeout names what it waited for and leaves the connection usable', async () => {
    const { framed, peer } = await connectedPair();
    const error = await rejectionOf(framed.receive(20, 'the Accept'));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe('no answer from peer within 20 ms while waiting for the Accept');
    expect((await rejectionOf(framed.receive(20))).message).toBe('no answer from peer within 20 ms while waiting for a frame');
    // Only that wait failed: the connection did not.
    expect(framed.error).toBeUndefined();
    peer.write(round(1));
    expectRound(await framed.receive(), 1);
  });

  it('a silent peer fails the connection with LM_ERR_TIMEOUT after idleTimeoutMs, and the socket is destroyed', async () => {
    const { framed, peer } = await connectedPair({ idleTimeoutMs: 50 });
    const waiting = framed.receive();
    const error = await rejectionOf(waiting);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe('no traffic from peer for 50 ms');
    expect(framed.error).toBe(error);
    await once(peer, 'close');
    expect(framed.socket.destroyed).toBe(true);
  });

  it('ended() waits for the peer\'s Abort and gives its typed error; once ended it answers at once', async () => {
    const { framed, peer } = await connectedPair();
    const ending = framed.ended(10_000);
    expect(await stateOf(ending)).toBe('pending');
    peer.write(encodeAbort({ code: 'LM_ERR_CRC_MISMATCH', message: 'frame CRC differs' }));
    const error = await ending;
    expect(error).toMatchObject({ code: 'LM_ERR_CRC_MISMATCH' });
    expect(framed.peerAborted).toBe(true);
    expect(await framed.ended(10_000)).toBe(error);
  });

  it('ended() gives undefined when the connection is still open after the wait, and the close once it closes', async () => {
    const { framed, peer } = await connectedPair();
    expect(await framed.ended(20)).toBeUndefined();
    const ending = framed.ended(10_000);
    peer.end();
    expect(await ending).toBeInstanceOf(PeerClosedError);
    expect(framed.peerAborted).toBe(false);
  });

  it('keepAliveWhileSilent turns the idle timeout off', async () => {
    // Armed first, so its idle timer, were it still on, would fire no later than the twin's.
    const kept = await connectedPair({ idleTimeoutMs: 50 });
    kept.framed.keepAliveWhileSilent();
    const twin = await connectedPair({ idleTimeoutMs: 50 });
    expect(await rejectionOf(twin.framed.receive())).toMatchObject({ code: 'LM_ERR_TIMEOUT' });
    // The twin's idle time has passed: the connection kept alive has not failed, and still carries frames.
    expect(kept.framed.error).toBeUndefined();
    expect(kept.framed.socket.timeout).toBe(0);
    kept.peer.write(round(1));
    expectRound(await kept.framed.receive(), 1);
  });
});

describe('FramedSocket between two framed ends', () => {
  it('counts bytes both ways, and close() ends the connection after what was queued', async () => {
    const { framed, peer } = await connectedPair();
    const other = new FramedSocket(peer);
    await framed.send(round(1));
    await framed.send(round(2));
    framed.close();
    expectRound(await other.receive(), 1);
    expectRound(await other.receive(), 2);
    expect(await rejectionOf(other.receive())).toMatchObject({ code: 'LM_ERR_PEER_CLOSED' });
    expect(other.bytesReceived).toBe(framed.bytesSent);
    expect(framed.bytesSent).toBe(2 * round(1).length);
    expect(framed.remote).toBe(`127.0.0.1:${peer.localPort}`);
  });
});
