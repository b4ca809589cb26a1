/**
 * TLS set-up child: `node tls-setup-child.js ORDER`, ORDER `plain-first` or `tls-first`. In a fresh process, as a
 * freshly started agent is, times loopback connections from this process to itself: connect, the server's
 * secureServer (TLS 1.3 with a PSK, as the agents use it; nothing for plain), one Hello frame each way. Three of
 * each kind, in ORDER: the first of a kind pays for first use (OpenSSL's context, the PSK callbacks, the code's
 * first run), which is what a warm-up at start would take off a migration's set-up. Prints one JSON line.
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FramedSocket, PLAINTEXT, connectTcp, secureServer, type TransportSecurity } from '@livemig/agent-runtime';
import { CAPABILITIES, PAGE_SIZE, PROTOCOL_VERSION, encodeHello } from '@livemig/protocol';

const order = process.argv[2];
if (order !== 'plain-first' && order !== 'tls-first') {
  process.stderr.write('usage: tls-setup-child plain-first|tls-first\n');
  process.exit(2);
}
const key = randomBytes(32).toString('hex');
const KINDS: Record<'plain' | 'tls', { client: TransportSecurity; server: TransportSecurity }> = {
  plain: { client: PLAINTEXT, server: PLAINTEXT },
  tls: { client: { kind: 'psk', identity: 'bench', keys: { bench: key } }, server: { kind: 'psk', keys: { bench: key } } },
};
const hello = encodeHello({
  protocolVersion: PROTOCOL_VERSION,
  capabilities: [...CAPABILITIES],
  guestId: 'setup',
  migrationId: 'setup-1',
  geometry: { pageSize: PAGE_SIZE, memoryBytes: 16 * PAGE_SIZE, slotBytes: 16 * PAGE_SIZE, vcpus: 1 },
  workload: { name: 'idle', seed: 1, ops: 0, params: {} },
  channels: 1,
});

const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as { port: number }).port;

async function connection(kind: 'plain' | 'tls'): Promise<number> {
  const started = performance.now();
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const clientSocket = connectTcp({ host: '127.0.0.1', port }, 10_000, KINDS[kind].client);
  const [raw] = await accepted;
  const serverSocket = await secureServer(raw, KINDS[kind].server, 10_000);
  const [client, peer] = [new FramedSocket(await clientSocket), new FramedSocket(serverSocket)];
  await client.send(hello);
  await peer.receive(10_000);
  await peer.send(hello);
  await client.receive(10_000);
  const ms = performance.now() - started;
  client.destroy();
  peer.destroy();
  return ms;
}

const times: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
for (const kind of order === 'plain-first' ? (['plain', 'tls'] as const) : (['tls', 'plain'] as const)) {
  for (let i = 0; i < 3; i++) times[kind].push(await connection(kind));
}
server.close();
process.stdout.write(`${JSON.stringify(times)}\n`);
