import { afterAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';

// One typed-array view cannot exceed 4 GiB here: a 6 GiB guest lives in 1 GiB slots. Only the pages the
// guest wrote are read and sent (never-written pages are known zero), so a sparse 6 GiB guest is cheap.
describe('a guest over 4 GiB of address space', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('6 GiB, sparse, migrates and finishes with the oracle digest', async () => {
    const guest = ['--memory', '6GiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '5', '--ops', '3000', '--dirty-rate', '12MiB'];
    const expected = await oracleDigest(guest);
    const dest = await startDest(['--once', '--max-memory', '8GiB', '--report', dir.file('dest.json')]);
    const source = runSource([...guest, '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', dir.file('source.json')]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    const report = readJson(dir.file('source.json'));
    expect(report.memoryBytes).toBe(6 * 1024 ** 3);
    // Sparse: far fewer pages than the 1.5 M the guest has.
    expect(report.imageBytes).toBeLessThan(64 * 1024 ** 2);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
  });
});
