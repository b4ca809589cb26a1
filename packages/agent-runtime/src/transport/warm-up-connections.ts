import { createServer, type Socket } from 'node:net';
import {
  PAGE_SIZE,
  PROTOCOL_VERSION,
  encodeAccept,
  encodeActivated,
  encodeChannelHello,
  encodeCommitted,
  encodeComplete,
  encodeConfirm,
  encodeCpuState,
  encodeHello,
  encodeRoundBegin,
  encodeRoundEnd,
} from '@livemig/protocol';
import { connectTcp } from './connect.js';
import { FramedSocket } from './framed-socket.js';
import { PLAINTEXT } from './transport-security.js';

/** A warm-up that has not finished by then is cut: it must never hold a thread or a port for long. */
const WARM_UP_TIMEOUT_MS = 5_000;

/**
 * Runs the connection handling of a migration once, over a loopback connection from this thread to itself:
 * listen, connect, accept, a FramedSocket at each end, and every frame a migration without pages carries,
 * encoded, sent and decoded in both directions. A thread otherwise meets this code for the first time inside
 * a migration's handshake, where each first use costs milliseconds (in a fresh process on a 2-core host: the
 * first listen 3-11 ms, the first connect 2-7 ms, the first frame encoded, sent and decoded 3-11 ms; after this
 * warm-up 0.3, 0.6 and 0.5 ms). Call it when a thread that will carry a migration's connections starts.
 * Best effort: never rejects; nothing leaves the host.
 */
export async function warmUpConnections(): Promise<void> {
  const server = createServer();
  server.unref();
  const sockets: Socket[] = [];
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const timer = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  }, WARM_UP_TIMEOUT_MS);
  timer.unref();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') return;
    const client = await connectTcp({ host: '127.0.0.1', port: address.port }, WARM_UP_TIMEOUT_MS, PLAINTEXT);
    sockets.push(client);
    client.unref();
    const peer = await accepted;
    sockets.push(peer);
    peer.unref();
    const ends = [new FramedSocket(client), new FramedSocket(peer)] as const;
    for (const [from, to] of [ends, [ends[1], ends[0]] as const]) {
      for (const frame of sampleFrames()) {
        await from.send(frame);
        await to.receive();
      }
    }
  } catch {
    // Only a warm-up: the migration that follows meets any real problem itself.
  } finally {
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    server.close();
  }
}

/** One of each frame a migration of a guest with no written pages sends, in order. */
function sampleFrames(): Buffer[] {
  const id = '00000000-0000-4000-8000-000000000000';
  const digest = '0'.repeat(64);
  return [
    encodeHello({
      protocolVersion: PROTOCOL_VERSION,
      capabilities: ['warm-up'],
      guestId: id,
      migrationId: id,
      geometry: { pageSize: PAGE_SIZE, memoryBytes: 64 * PAGE_SIZE, slotBytes: 64 * PAGE_SIZE, vcpus: 1 },
      workload: { name: 'idle', seed: 1, ops: 0, params: {} },
      channels: 1,
    }),
    encodeAccept({ reservationId: id, capabilities: ['warm-up'], channelPorts: [1] }),
    encodeChannelHello({ reservationId: id, channel: 0 }),
    encodeRoundBegin({ round: 1, pages: 0 }),
    encodeRoundEnd({ round: 1, pages: 0 }),
    encodeCpuState({ registers: [new Uint8Array(256)], running: false }),
    encodeComplete({ digest, pagesSent: 0, rounds: 1, nonce: '0'.repeat(32) }),
    encodeCommitted({ digest, proof: digest }),
    encodeConfirm({ migrationId: id }),
    encodeActivated({ activatedAtMs: 0 }),
  ];
}
