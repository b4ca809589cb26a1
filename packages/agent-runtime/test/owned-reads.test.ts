import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, PageBatchWriter, encodeAbort, encodeRoundBegin, type Frame } from '@livemig/protocol';
import { FramedSocket } from '../dist/transport/framed-socket.js';
import { readIntoOwnBuffers } from '../dist/transport/owned-reads.js';
import { waitFor } from '../../../test/support/wait.js';

// FramedSocket reading into the decoder's own buffers (readIntoOwnBuffers) over real loopback connections: the
// side under test is a socket a server accepted with pauseOnConnect, as a destination's data channel; its peer
// a plain socket that writes exactly the bytes a test gives it.

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function acceptedPair(): Promise<{ accepted: Socket; peer: Socket }> {
  const server = createServer({ pauseOnConnect: true });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepting = once(server, 'connection') as Promise<[Socket]>;
  const peer = connect(port, '127.0.0.1');
  sockets.push(peer);
  await once(peer, 'connect');
  const [accepted] = await accepting;
  sockets.push(accepted);
  return { accepted, peer };
}

async function ownedPair(): Promise<{ framed: FramedSocket; peer: Socket }> {
  const { accepted, peer } = await acceptedPair();
  const framed = new FramedSocket(accepted, { readIntoOwnBuffers: true });
  sockets.push(framed.socket);
  return { framed, peer };
}

/** A page batch of `pages` pages: raw noise, text, same-byte and zero by turn, distinct per `salt`. */
function batch(pages: number, salt: number): Buffer {
  const writer = new PageBatchWriter();
  for (let i = 0; i < pages; i++) {
    const page = new Uint8Array(4096);
    if (i % 4 === 0) for (let j = 0; j < 4096; j++) page[j] = (Math.imul(j + 1, 2654435761 + salt * 97 + i) >>> 13) & 0xff;
    else if (i % 4 === 1) page.set(Buffer.from(`line ${salt} of page ${i}: the quick brown fox\n`.repeat(80)).subarray(0, 4096));
    else if (i % 4 === 2) page.fill(salt & 0xff);
    writer.add(i, page);
  }
  return writer.takeFrame();
}

/** What `push` gives for whole frames: the reference every other way in is held to. */
const decodeWhole = (bytes: Buffer): Frame[] => new FrameDecoder().push(bytes);

/** Writes `bytes` in pieces of the given sizes (cycling), each its own write after a turn of the event loop. */
async function writeInPieces(peer: Socket, bytes: Buffer, sizes: readonly number[]): Promise<void> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    if (!peer.write(bytes.subarray(at, at + n))) await once(peer, 'drain');
    at += n;
    if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('FramedSocket reading into its own buffers', () => {
  it('receives every frame intact whatever the peer write sizes, releasing page batches as a receiver does', async () => {
    const { framed, peer } = await ownedPair();
    const frames = [encodeRoundBegin({ round: 1, pages: 64 })];
    for (let salt = 1; salt <= 24; salt++) frames.push(batch(salt % 5 === 0 ? 1 : 60, salt));
    frames.push(encodeRoundBegin({ round: 2, pages: 0 }));
    const stream = Buffer.concat(frames);
    const expected = decodeWhole(stream);
    const writing = writeInPieces(peer, stream, [1, 15, 17, 4096, 70_001, 3, 262_144, 100]);
    for (const want of expected) {
      const got = await framed.receive(30_000);
      expect(got).toEqual(want);
      framed.release(got);
    }
    await writing;
    expect(framed.bytesReceived).toBe(stream.length);
    expect(framed.socket.bytesRead).toBe(stream.length);
  });

  it('sends on the same connection', async () => {
    const { framed, peer } = await ownedPair();
    const got = new Promise<Buffer>((resolve) => peer.once('data', resolve));
    await framed.send(encodeRoundBegin({ round: 7, pages: 1 }));
    expect(decodeWhole(await got)).toEqual(decodeWhole(encodeRoundBegin({ round: 7, pages: 1 })));
  });

  it('delivers the frames before the peer closed, then fails with LM_ERR_PEER_CLOSED', async () => {
    const { framed, peer } = await ownedPair();
    peer.end(Buffer.concat([encodeRoundBegin({ round: 1, pages: 1 }), batch(3, 1)]));
    expect((await framed.receive(30_000)).type).toBe(FrameType.RoundBegin);
    expect((await framed.receive(30_000)).type).toBe(FrameType.PageBatch);
    await expect(framed.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_PEER_CLOSED', message: 'peer closed the connection' });
  });

  it('a stream that ends inside a frame fails with LM_ERR_TRUNCATED', async () => {
    const { framed, peer } = await ownedPair();
    const cut = batch(2, 3);
    peer.end(Buffer.concat([encodeRoundBegin({ round: 1, pages: 1 }), cut.subarray(0, cut.length - 5)]));
    expect((await framed.receive(30_000)).type).toBe(FrameType.RoundBegin);
    await expect(framed.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_TRUNCATED' });
  });

  it('bad bytes after a good frame: the frame first, then the typed error, and reading stops', async () => {
    const { framed, peer } = await ownedPair();
    const garbage = Buffer.alloc(64, 0xee);
    peer.write(Buffer.concat([encodeRoundBegin({ round: 1, pages: 1 }), garbage, batch(1, 1)]));
    expect((await framed.receive(30_000)).type).toBe(FrameType.RoundBegin);
    await expect(framed.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    // The header was the last read: nothing after the bad bytes was taken in.
    expect(framed.bytesReceived).toBe(encodeRoundBegin({ round: 1, pages: 1 }).length + 16);
  });

  it('a flipped byte in a raw page is LM_ERR_CRC_MISMATCH', async () => {
    const { framed, peer } = await ownedPair();
    const bad = batch(4, 9);
    bad[16 + 4 + 5 + 100]! ^= 1;
    peer.write(bad);
    await expect(framed.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_CRC_MISMATCH' });
  });

  it("a peer's Abort is the typed error it carries", async () => {
    const { framed, peer } = await ownedPair();
    peer.write(encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'operator said stop' }));
    await expect(framed.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_CANCELLED', message: 'peer aborted: operator said stop' });
  });

  it('refuses a socket that has already read', async () => {
    const { accepted, peer } = await acceptedPair();
    accepted.resume();
    peer.write(encodeRoundBegin({ round: 1, pages: 1 }));
    await waitFor(() => accepted.bytesRead > 0, { what: 'the accepted socket to read' });
    expect(() => readIntoOwnBuffers(accepted, () => Buffer.alloc(16), () => true)).toThrow(/already read/);
  });
});
