import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { hostGuest, startMigration, type Migration, type MigrationOptions, type MigrationReport } from '@livemig/source-agent';
import { waitFor } from './support/wait.js';

// Cancel from every phase (QEMU's migrate_cancel): handshake, reservation, each of three pre-copy rounds,
// stop-and-copy before commit. One guest lives through all six cancels, keeps running, is then migrated to a
// fresh destination for real, finishes there and must reach the digest of the same run with no migration.
const MEMORY = 32 * 1024 * 1024;
// About 60 s of guest at its pace (4096 pages dirtied per second): it must outlive all six cancels, which
// took 12 s on a quiet host and over 30 s on a loaded one; a guest that finishes first fails the test with a
// message saying so. The baseline runs the same ops unpaced: pacing changes timing, never what is written (the
// guest package's determinism test), so it takes a second, not the guest's minute.
const WORKLOAD = parseWorkloadSpec({ name: 'uniform', seed: 11, ops: 120_000, params: { dirtyRate: 16 * 1024 * 1024 } });
const UNPACED = parseWorkloadSpec({ ...WORKLOAD, params: { ...WORKLOAD.params, dirtyRate: 0 } });
// 1 MB/s keeps pre-copy rounds in the hundreds of milliseconds, longer than the 100 ms between progress
// events; a downtime limit of 0 never converges while the guest dirties pages.
const SLOW = { maxBandwidthBytesPerSec: 1_000_000, downtimeLimitMs: 0, maxRounds: 100_000 };

describe('cancel from every phase leaves the source running', () => {
  let expected: string;
  let guest: Guest;
  const dests: DestAgent[] = [];

  beforeAll(async () => {
    const baseline = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: UNPACED });
    await baseline.finished;
    expected = baseline.digest();
    await baseline.stop();
    guest = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: WORKLOAD });
  });
  afterAll(async () => {
    await guest?.stop();
    await Promise.all(dests.map((dest) => dest.close()));
  });

  async function freshDest(): Promise<{ agent: DestAgent; options: Pick<MigrationOptions, 'target'> }> {
    const agent = new DestAgent({ maxMemoryBytes: 4 * MEMORY });
    dests.push(agent);
    const address = await agent.listen(0);
    return { agent, options: { target: { host: address.host, port: address.port } } };
  }

  /** Starts a migration, cancels it as soon as `when` says so, and checks the source kept its guest. */
  async function cancelWhen(
    options: Partial<MigrationOptions>,
    when: (migration: Migration, cancel: () => void) => void,
  ): Promise<MigrationReport> {
    expect(guest.isFinished(), 'the guest finished before every cancel was tried').toBe(false);
    const dest = await freshDest();
    const migration = startMigration(guest, { ...dest.options, ...options });
    let accepted: boolean | undefined;
    when(migration, () => {
      accepted ??= migration.cancel();
    });
    const report = await migration.done;
    expect(accepted).toBe(true);
    expect(report.status, JSON.stringify(report.error)).toBe('cancelled');
    expect(report.error?.code).toBe('LM_ERR_CANCELLED');
    expect(migration.phase).toBe('cancelled');
    // The guest runs on here, unthrottled, and the destination gave its reservation back.
    expect(guest.parked).toBe(false);
    expect(guest.throttlePercent).toBe(0);
    const before = guest.opsDone();
    await waitFor(() => guest.opsDone() > before || guest.isFinished(), { what: 'the guest to run on at the source' });
    await waitFor(() => dest.agent.reservations.freeBytes === dest.agent.reservations.limitBytes, { what: 'the destination to give its reservation back' });
    return report;
  }

  it('during the handshake', async () => {
    const report = await cancelWhen({}, (migration, cancel) => migration.on('phase', (phase) => phase === 'handshake' && cancel()));
    expect(report.setupTimeMs).toBe(0);
  });

  it('during the reservation', async () => {
    const report = await cancelWhen({}, (migration, cancel) => migration.on('phase', (phase) => phase === 'reservation' && cancel()));
    expect(report.rounds).toHaveLength(0);
  });

  for (const round of [1, 2, 3]) {
    it(`in the middle of pre-copy round ${round}`, async () => {
      const report = await cancelWhen({ ...SLOW, autoConverge: true }, (migration, cancel) =>
        migration.on('progress', (stats) => stats.phase === 'pre-copy' && stats.round >= round && cancel()),
      );
      // Cancelled inside a round: the rounds before it were reported, that one was not.
      expect(report.rounds.length).toBeGreaterThanOrEqual(round - 1);
      expect(report.rounds.every((r) => !r.final)).toBe(true);
      // Dirtied > 50% of sent in rounds 1 and 2: auto-converge throttled the guest, and the cancel released it.
      if (round === 3) expect(report.throttlePercent).toBeGreaterThan(0);
    });
  }

  it('during stop-and-copy, before commit', async () => {
    const report = await cancelWhen({ maxRounds: 1 }, (migration, cancel) =>
      migration.on('phase', (phase) => phase === 'stop-and-copy' && cancel()),
    );
    expect(report.switchoverReason).not.toBeNull();
    expect(report.rounds.filter((r) => r.final)).toHaveLength(0);
  });

  it('then a migration to a fresh destination succeeds and the guest reaches the oracle digest there', async () => {
    const dest = await freshDest();
    const arrived = new Promise<ArrivedGuest>((resolve) => dest.agent.once('arrived', resolve));
    const migration = startMigration(guest, { ...dest.options, downtimeLimitMs: 1_000 });
    // Too late once Complete is out: a cancel then is refused, and the migration completes.
    let refused: boolean | undefined;
    migration.on('phase', (phase) => {
      if (phase === 'commit') refused = !migration.cancel();
    });
    const report = await migration.done;
    expect(report.status, JSON.stringify(report.error)).toBe('completed');
    expect(refused).toBe(true);
    const arrival = await arrived;
    const outcome = await hostGuest(arrival.guest, {});
    arrival.reservation.release();
    expect(outcome.ended).toBe('finished');
    expect(outcome.finalDigest).toBe(expected);
  });
});
