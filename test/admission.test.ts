import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES, FrameType, PAGE_SIZE, PROTOCOL_VERSION, encodeFrame, encodeHello } from '@livemig/protocol';
import { FramedSocket } from '@livemig/agent-runtime';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir, type Agent } from './support/agents.js';
import { sleep, waitFor } from './support/wait.js';

// Issue 15's probes, as a hostile peer on loopback tried them, each a regression test: nothing expensive is
// done for a stranger, and what a stranger costs is given back.
const MiB = 1024 * 1024;

/** Resident memory of process `pid` in bytes (Linux). */
function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

/** Threads of process `pid` (Linux): its main thread, V8's and libuv's, and one per worker thread. */
function threadsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

/** TCP ports process `pid` listens on. */
function listeningPorts(pid: number): number[] {
  const lines = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(`pid=${pid},`)).map((line) => Number(/:(\d+)\s/.exec(line.split(/\s+/)[3]! + ' ')![1]));
}

/** Resolves once `read()` gave the same value `times` polls in a row (a process whose warm-up has settled). */
async function settled(read: () => number, times = 10): Promise<number> {
  let last = read();
  let same = 0;
  await waitFor(() => {
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
    return same >= times;
  }, { intervalMs: 100, what: 'a settled value' });
  return last;
}

/** Resolves when `socket` has closed, however (once() would reject on its error event). */
function closedOf(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

async function connectRaw(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

describe('bounded cost for strangers', () => {
  const dir = tempDir();
  const agents: Agent[] = [];
  afterAll(() => {
    for (const agent of agents) agent.child.kill('SIGKILL');
    dir.remove();
  });

  it('connections that send most of a 4 MiB frame and leave cost nothing afterwards (the leak probe)', async () => {
    const dest = await startDest([]);
    agents.push(dest);
    const pid = dest.child.pid!;
    // A frame of the largest size a peer may send, cut short: its header is valid, its payload never completes.
    const frame = encodeFrame(FrameType.PageBatch, Buffer.alloc(4 * MiB - 64, 7));
    const probe = async (): Promise<void> => {
      const socket = await connectRaw(dest.port);
      const closed = closedOf(socket);
      socket.end(frame.subarray(0, frame.length - 100));
      await closed;
    };
    const wave = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 8) await Promise.all(Array.from({ length: Math.min(8, count - i) }, probe));
    };
    await wave(16);
    const before = await settled(() => Math.round(rssOf(pid) / (8 * MiB)));
    await wave(150);
    // Before the fix 150 of them kept ~600 MiB for good (a record per connection holding its decoder's buffer).
    await waitFor(() => rssOf(pid) <= (before + 8) * 8 * MiB, { what: `RSS back near ${before * 8} MiB (now ${Math.round(rssOf(pid) / MiB)} MiB)` });
    expect(dest.child.exitCode).toBeNull();
  });

  it('a migration succeeds while strangers squat the data ports', async () => {
    const guest = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '11', '--ops', '6000', '--dirty-rate', '24MiB'];
    const expected = await oracleDigest(guest);
    const dest = await startDest(['--once']);
    agents.push(dest);
    // The warm channel threads' ports: the next migration's data channels.
    let ports: number[] = [];
    await waitFor(() => (ports = listeningPorts(dest.child.pid!).filter((port) => port !== dest.port)).length >= 2, { what: 'the warm channel ports' });
    let squatting = true;
    let dropped = 0;
    // Eight idle connections to each port, each replaced as soon as the destination drops it.
    const squat = async (port: number): Promise<void> => {
      while (squatting) {
        const socket = await connectRaw(port).catch(() => undefined);
        if (!socket) return;
        await closedOf(socket);
        dropped += 1;
      }
    };
    const squatters = ports.flatMap((port) => Array.from({ length: 8 }, () => squat(port)));
    await waitFor(() => dropped >= 16, { what: 'strangers dropped before any reservation' });
    const report = dir.file('squat-source.json');
    const source = runSource([...guest, '--streams', '2', '--migrate-to', dest.address, '--migrate-after', '200ms', '--report', report]);
    agents.push(source);
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    squatting = false;
    expect(done.code, done.stderr.split('\n').slice(-3).join('\n')).toBe(0);
    expect(readJson(report).status).toBe('completed');
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    await Promise.race([Promise.all(squatters), sleep(2000)]);
  });

  describe('a Hello that asks for many threads', () => {
    let dest: Agent & { port: number };
    beforeAll(async () => {
      dest = await startDest(['--max-threads', '64']);
      agents.push(dest);
    });

    it('is refused before any thread is spawned for it', async () => {
      const pid = dest.child.pid!;
      const threads = await settled(() => threadsOf(pid));
      const conn = new FramedSocket(await connectRaw(dest.port));
      await conn.send(
        encodeHello({
          protocolVersion: PROTOCOL_VERSION,
          capabilities: [...CAPABILITIES],
          guestId: 'thread-hungry',
          migrationId: randomUUID(),
          // 64 KiB of guest, 16 data channels and 64 vCPUs: 80 threads for nothing.
          geometry: { pageSize: PAGE_SIZE, memoryBytes: 16 * PAGE_SIZE, slotBytes: 16 * PAGE_SIZE, vcpus: 64 },
          workload: { name: 'idle', seed: 1, ops: 0, params: {} },
          channels: 16,
        }),
      );
      const answer = await conn.receive();
      expect(answer.type === FrameType.Refuse && answer.message).toMatchObject({
        code: 'LM_ERR_REFUSED',
        message: 'guest needs 80 threads (16 data channels, 64 vCPUs), this agent has 64 free of 64 (--max-threads)',
      });
      conn.destroy();
      // A window in which nothing may be spawned for it.
      await sleep(500);
      expect(threadsOf(pid)).toBeLessThanOrEqual(threads);
    });
  });
});
