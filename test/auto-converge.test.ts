import { afterAll, describe, expect, it } from 'vitest';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { AUTO_CONVERGE_INITIAL, hostGuest, startMigration } from '@livemig/source-agent';

// QEMU's auto-converge on a guest that out-dirties pre-copy: stream rewrites its pages far faster than a
// 4 MB/s link sends them, so dirtied > 50% of sent in round 1 and again in round 2, and the vCPUs are
// throttled from round 2 on. Throttling changes timing only: the guest still reaches the oracle's digest.
const MEMORY = 32 * 1024 * 1024;
const WORKLOAD = parseWorkloadSpec({ name: 'stream', seed: 4, ops: 60_000, params: { dirtyRate: 64 * 1024 * 1024 } });

describe('auto-converge', () => {
  const dests: DestAgent[] = [];
  afterAll(async () => {
    await Promise.all(dests.map((dest) => dest.close()));
  });

  it('throttles by the second round on stream, releases the throttle after, and keeps the oracle', async () => {
    const baseline = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: WORKLOAD });
    await baseline.finished;
    const expected = baseline.digest();
    await baseline.stop();

    const dest = new DestAgent({ maxMemoryBytes: 4 * MEMORY });
    dests.push(dest);
    const address = await dest.listen(0);
    const arrived = new Promise<ArrivedGuest>((resolve) => dest.once('arrived', resolve));
    const guest = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: WORKLOAD });
    const throttleSeen: number[] = [];
    const migration = startMigration(guest, {
      target: address,
      autoConverge: true,
      maxBandwidthBytesPerSec: 4_000_000,
      downtimeLimitMs: 0,
      maxRounds: 4,
    });
    migration.on('throttle', (percent) => throttleSeen.push(percent));
    const report = await migration.done;
    expect(report.status, JSON.stringify(report.error)).toBe('completed');
    expect(report.rounds[1]!.throttlePercent).toBeGreaterThanOrEqual(AUTO_CONVERGE_INITIAL);
    expect(report.throttlePercent).toBeGreaterThanOrEqual(AUTO_CONVERGE_INITIAL);
    // Raised in steps of 10 (20, 30, ...), then released (0) when the migration ended.
    expect(throttleSeen[0]).toBe(AUTO_CONVERGE_INITIAL);
    expect(throttleSeen.at(-1)).toBe(0);
    expect(guest.throttlePercent).toBe(0);

    const arrival = await arrived;
    expect(arrival.guest.throttlePercent).toBe(0);
    const outcome = await hostGuest(arrival.guest, {});
    arrival.reservation.release();
    expect(outcome.finalDigest).toBe(expected);
  });
});
