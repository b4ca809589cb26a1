import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDisk, Guest, GuestMemory, HintArea, parseWorkloadSpec, PartitionWords, Sb } from '@livemig/guest';
import { startMigration, type MigrationReport } from '@livemig/source-agent';
import { startDest, tempDir } from './support/agents.js';
import { waitFor } from './support/wait.js';

// Issue 13: a migration with --balloon that fails (its destination killed in mid pre-copy) or is cancelled
// gives the guest its free pages back: the balloon target goes back to 0 and every vCPU's kernel deflates
// to an empty balloon, as before the migration. The guest then finishes here with the oracle's digest.
const MiB = 1024 * 1024;
const MEMORY = 64 * MiB;
const PARAMS = { diskBytes: 16 * MiB, cacheBytes: 8 * MiB, anonBytes: 8 * MiB };
// About 40 s of guest at its pace, so both migrations begin and end while it runs; the oracle runs the
// same ops unpaced (pacing changes timing, never what is written).
const WORKLOAD = parseWorkloadSpec({ name: 'fileserver', seed: 5, ops: 60_000, params: { ...PARAMS, dirtyRate: 12 * MiB } });
const UNPACED = parseWorkloadSpec({ ...WORKLOAD, params: { ...WORKLOAD.params, dirtyRate: 0 } });
// Never converges while the guest writes (downtime limit 0), so pre-copy lasts until it is interrupted.
const ENDLESS = { downtimeLimitMs: 0, maxRounds: 100_000, maxBandwidthBytesPerSec: 4_000_000 };

describe('--balloon: a failed or cancelled migration leaves the balloon as it was before', () => {
  const dir = tempDir();
  let guest: Guest;
  let area: HintArea;
  let expected: string;

  beforeAll(async () => {
    formatDisk(dir.file('oracle.disk'), PARAMS.diskBytes, WORKLOAD.seed);
    const oracle = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: UNPACED, disk: dir.file('oracle.disk') });
    await oracle.finished;
    expected = oracle.digest();
    await oracle.stop();
    formatDisk(dir.file('guest.disk'), PARAMS.diskBytes, WORKLOAD.seed);
    guest = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 2, workload: WORKLOAD, disk: dir.file('guest.disk') });
    area = new HintArea(guest.memory, WORKLOAD, 2);
  });
  afterAll(async () => {
    await guest?.stop();
    dir.remove();
  });

  /** Each vCPU's balloon: the host's target and the pages the kernel holds in it. */
  function balloon(): { target: number; pages: number }[] {
    const slots = guest.memory.slots.map((slot) => new Uint32Array(slot.buffer));
    return area.layouts.map((layout, vcpu) => ({
      target: new PartitionWords(slots, guest.memory.pagesPerSlot, layout.start).load(0, Sb.BALLOON_TARGET),
      pages: area.ballooned(vcpu),
    }));
  }
  const empty = [{ target: 0, pages: 0 }, { target: 0, pages: 0 }];

  /** Migrates with --balloon to a real destination, ends it with `end` once every vCPU ballooned, and returns the report. */
  async function failAfterInflation(end: (stop: { cancel: () => void; kill: () => void }) => void): Promise<MigrationReport> {
    expect(guest.isFinished(), 'the guest finished before the migrations were tried').toBe(false);
    expect(balloon()).toEqual(empty);
    const dest = await startDest(['--once', '--disk', dir.file('guest.disk')]);
    const migration = startMigration(guest, { target: { host: '127.0.0.1', port: dest.port }, balloon: true, ...ENDLESS });
    await waitFor(() => migration.result !== undefined || (migration.phase === 'pre-copy' && balloon().every((b) => b.pages > 0)), {
      what: 'every vCPU to inflate its balloon in pre-copy',
    });
    end({ cancel: () => migration.cancel(), kill: () => dest.child.kill('SIGKILL') });
    const report = await migration.done;
    dest.child.kill('SIGKILL');
    await dest.done;
    expect(report.balloon?.inflateMs).toBeGreaterThanOrEqual(0);
    expect(guest.parked).toBe(false);
    await waitFor(() => guest.isFinished() || JSON.stringify(balloon()) === JSON.stringify(empty), { what: 'the guest kernels to deflate' });
    expect(balloon()).toEqual(empty);
    return report;
  }

  it('the destination killed in mid pre-copy: the balloon deflates to empty', async () => {
    const report = await failAfterInflation(({ kill }) => kill());
    expect(report.status).toBe('failed');
    expect(report.error?.code).toMatch(/^LM_ERR_(PEER_CLOSED|TIMEOUT)$/);
  });

  it('a cancel in mid pre-copy: the balloon deflates to empty', async () => {
    const report = await failAfterInflation(({ cancel }) => cancel());
    expect(report.status).toBe('cancelled');
  });

  it('the guest then finishes here with the digest of the same run never migrated', async () => {
    await guest.finished;
    expect(balloon()).toEqual(empty);
    expect(guest.digest()).toBe(expected);
  });
});
