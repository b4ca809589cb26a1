import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CAPABILITY_ROUND_ACK, FrameType, PAGE_SIZE, encodeAccept, encodeCommitted, type Frame } from '@livemig/protocol';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { FramedSocket } from '@livemig/agent-runtime';
import { startMigration } from '../dist/index.js';
import { LocalServers } from './local-servers.js';

const PAGES = 64;
const WORKLOAD = parseWorkloadSpec({ name: 'idle', seed: 1, ops: 0, params: {} });

/**
 * The echoing fake destination of issue 10: it drains the data channels without decoding a page and answers
 * Complete with Committed carrying Complete's own digest and a proof it made up from that digest. It records
 * every control frame the source sent it.
 */
async function echoingDestination(): Promise<{ port: number; frames: Frame[]; ended: Promise<unknown>; close(): void }> {
  const servers = new LocalServers();
  const frames: Frame[] = [];
  let ended!: (error: unknown) => void;
  const endedPromise = new Promise<unknown>((resolve) => (ended = resolve));
  const channelPort = await servers.listen((socket) => socket.resume());
  const port = await servers.listen((socket) => {
    const conn = new FramedSocket(socket);
    void (async () => {
      try {
        for (;;) {
          const frame = await conn.receive(10_000, 'anything');
          frames.push(frame);
          if (frame.type === FrameType.Hello) {
            // Everything offered but round acknowledgements, which a destination that reads no page cannot give.
            const capabilities = frame.message.capabilities.filter((c) => c !== CAPABILITY_ROUND_ACK);
            await conn.send(encodeAccept({ reservationId: 'echo', capabilities, channelPorts: [channelPort] }));
          } else if (frame.type === FrameType.Complete) {
            const { digest } = frame.message;
            await conn.send(encodeCommitted({ digest, proof: createHash('sha256').update(digest).digest('hex') }));
          }
        }
      } catch (error) {
        // An Abort from the source comes back as the typed error it carries.
        ended(error);
      }
    })();
  });
  return {
    port,
    frames,
    ended: endedPromise,
    close: () => servers.close(),
  };
}

describe("the source checks Committed's proof", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('an echo of the digest is LM_ERR_PROOF_MISMATCH: Abort instead of Confirm, and the guest resumes here', async () => {
    const fake = await echoingDestination();
    cleanups.push(() => fake.close());
    const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 1, workload: WORKLOAD });
    cleanups.push(() => guest.stop());
    const migration = startMigration(guest, { target: { host: '127.0.0.1', port: fake.port }, streams: 1 });
    const report = await migration.done;
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('LM_ERR_PROOF_MISMATCH');
    // The guest is this side's again: running, its workers alive.
    expect(guest.parked).toBe(false);
    expect(await fake.ended).toMatchObject({ code: 'LM_ERR_PROOF_MISMATCH' });
    const sent = fake.frames.map((frame) => frame.type);
    expect(sent.at(-1)).toBe(FrameType.Complete);
    expect(sent).not.toContain(FrameType.Confirm);
  });
});
