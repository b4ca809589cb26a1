import { afterEach, describe, expect, it } from 'vitest';
import { CAPABILITY_ROUND_ACK, FrameType, PAGE_SIZE, UnexpectedFrameError, encodeAccept, encodeRoundAck } from '@livemig/protocol';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { FramedSocket } from '@livemig/agent-runtime';
import { startMigration } from '../dist/index.js';
import { LocalServers } from './local-servers.js';

const PAGES = 1024;
/** incr keeps every page of its sweep dirty, so pre-copy never converges and goes on to --max-rounds. */
const WORKLOAD = parseWorkloadSpec({ name: 'incr', seed: 1, ops: 0, params: {} });
/** How late the fake destination acknowledges a round: long enough for a source that did not wait to run ahead. */
const ACK_DELAY_MS = 40;

/** What the fake destination saw on its data channel: each round's begin, with the last round it had acknowledged then. */
interface Begun { round: number; ackedThen: number }

/**
 * A destination that agrees to round-ack-v1 and reads the one data channel's frames without applying a page. With
 * `acknowledge`, it acknowledges each round ACK_DELAY_MS after the round's RoundEnd arrived; without, never. It
 * answers Complete with Abort, ending the migration before commit.
 */
async function ackingDestination(acknowledge: boolean): Promise<{ port: number; begun: Begun[]; close(): void }> {
  const servers = new LocalServers();
  const begun: Begun[] = [];
  let control: FramedSocket | undefined;
  let acked = 0;
  const read = (conn: FramedSocket, onFrame: (frame: Awaited<ReturnType<FramedSocket['receive']>>) => void): void => {
    void (async () => {
      try {
        for (;;) onFrame(await conn.receive(undefined, 'anything'));
      } catch {
        // the source closed or aborted: the test looks at what was seen before
      }
    })();
  };
  const channelPort = await servers.listen((socket) => {
    const conn = new FramedSocket(socket);
    read(conn, (frame) => {
      if (frame.type === FrameType.RoundBegin) begun.push({ round: frame.message.round, ackedThen: acked });
      if (frame.type === FrameType.PageBatch) conn.release(frame);
      if (frame.type === FrameType.RoundEnd && acknowledge) {
        const { round, pages } = frame.message;
        setTimeout(() => {
          acked = round;
          control?.send(encodeRoundAck({ round, pages, applyUs: 1000 })).catch(() => {});
        }, ACK_DELAY_MS);
      }
    });
  });
  const port = await servers.listen((socket) => {
    const conn = new FramedSocket(socket);
    control = conn;
    read(conn, (frame) => {
      if (frame.type === FrameType.Hello) {
        expect(frame.message.capabilities).toContain(CAPABILITY_ROUND_ACK);
        conn.send(encodeAccept({ reservationId: 'acks', capabilities: [...frame.message.capabilities], channelPorts: [channelPort] })).catch(() => {});
      } else if (frame.type === FrameType.Complete) {
        conn.abort(new UnexpectedFrameError('the fake destination commits nothing'));
      }
    });
  });
  return {
    port,
    begun,
    close: () => servers.close(),
  };
}

describe('round acknowledgements bound the source\'s lead', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('round n + 2 begins only once round n is acknowledged', async () => {
    const fake = await ackingDestination(true);
    cleanups.push(() => fake.close());
    const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 1, workload: WORKLOAD });
    cleanups.push(() => guest.stop());
    const migration = startMigration(guest, { target: { host: '127.0.0.1', port: fake.port }, streams: 1, downtimeLimitMs: 0, maxRounds: 6 });
    const report = await migration.done;
    // The fake aborts at Complete: the guest is this side's again.
    expect(report.status).toBe('failed');
    expect(guest.parked).toBe(false);
    // Six pre-copy rounds (maxRounds) and the final one reached the destination, each within the bound.
    expect(fake.begun.map((b) => b.round)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const { round, ackedThen } of fake.begun) expect(ackedThen, `round ${round} began`).toBeGreaterThanOrEqual(round - 2);
    // And the guest was parked only once every pre-copy round was acknowledged.
    expect(fake.begun.at(-1)!.ackedThen).toBe(6);
    expect(report.roundAcks?.maxRoundsInFlight).toBe(2);
    expect(report.roundAcks?.acknowledged).toBeGreaterThanOrEqual(6);
    // The destination's cost (1 ms over a round's pages) entered the per-page estimate.
    expect(report.rounds.some((r) => r.destPageCostUs > 0)).toBe(true);
  });

  it('a destination that never acknowledges fails the migration with LM_ERR_TIMEOUT; the guest runs on here', async () => {
    const fake = await ackingDestination(false);
    cleanups.push(() => fake.close());
    const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 1, workload: WORKLOAD });
    cleanups.push(() => guest.stop());
    const migration = startMigration(guest, {
      target: { host: '127.0.0.1', port: fake.port },
      streams: 1,
      downtimeLimitMs: 0,
      maxRounds: 6,
      idleTimeoutMs: 4000,
    });
    const report = await migration.done;
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('LM_ERR_TIMEOUT');
    expect(guest.parked).toBe(false);
    // Rounds 1 and 2 went out; round 3 waited for round 1's acknowledgement, which never came.
    expect(fake.begun.map((b) => b.round)).toEqual([1, 2]);
    const before = guest.opsDone();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(guest.opsDone()).toBeGreaterThan(before);
  });
});
