import { afterAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';

// The oracle for a guest with a disk and a page cache: the final digest covers what the guest observes
// (registers, accumulators, anonymous buffers, the disk as the guest sees it; see kernel-digest.ts) and
// checks every block's write-back generation on the disk against the kernel's record, so a write-back lost
// or landing twice across the migration fails it. Both agents open the same disk path (shared storage).
const guestArgs = (disk: string): string[] => [
  '--memory', '64MiB', '--vcpus', '2', '--workload', 'fileserver', '--seed', '21', '--ops', '12000',
  '--dirty-rate', '24MiB', '--disk-bytes', '16MiB', '--cache-bytes', '8MiB', '--anon-bytes', '8MiB', '--disk', disk,
];

describe('fileserver: a guest with a disk and a page cache migrates', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('plain pre-copy in mid-run: the oracle digest, disk write-backs checked', async () => {
    const expected = await oracleDigest(guestArgs(dir.file('oracle.disk')));
    const disk = dir.file('shared.disk');
    const dest = await startDest(['--once', '--disk', disk]);
    const source = runSource([...guestArgs(disk), '--migrate-to', dest.address, '--migrate-after', '600ms', '--report', dir.file('source.json')]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    const report = readJson(dir.file('source.json'));
    expect(report.status).toBe('completed');
    expect(report.guestOpsAtStart).toBeGreaterThan(0);
    expect(report.guestOpsAtStart).toBeLessThan(2 * 12000);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
  });

  it('A -> B -> A: the oracle digest', async () => {
    const expected = await oracleDigest(guestArgs(dir.file('oracle-aba.disk')));
    const disk = dir.file('shared-aba.disk');
    const backAtA = await startDest(['--once', '--disk', disk]);
    const atB = await startDest(['--once', '--disk', disk, '--migrate-to', backAtA.address, '--migrate-after', '300ms', '--report', dir.file('b.json')]);
    const source = runSource([...guestArgs(disk), '--migrate-to', atB.address, '--migrate-after', '500ms']);
    const [sourceDone, bDone, aDone] = await Promise.all([source.done, atB.done, backAtA.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(bDone.code, bDone.stderr).toBe(0);
    expect(readJson(dir.file('b.json')).onward.status).toBe('completed');
    expect(finalDigestOf(aDone.stdout)).toBe(expected);
  });

  it('a destination without the disk refuses the guest at the handshake; the guest finishes at the source', async () => {
    const expected = await oracleDigest(guestArgs(dir.file('oracle-nodisk.disk')));
    const dest = await startDest(['--once']);
    const source = runSource([...guestArgs(dir.file('nodisk.disk')), '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', dir.file('nodisk.json')]);
    const [sourceDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code).toBe(1);
    expect(sourceDone.stderr).toMatch(/guest disk: .*--disk FILE/);
    expect(readJson(dir.file('nodisk.json')).error.code).toBe('LM_ERR_REFUSED');
    expect(finalDigestOf(sourceDone.stdout)).toBe(expected);
  });
});
