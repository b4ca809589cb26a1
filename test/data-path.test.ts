import { afterAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';

// The data path's choices change how pages travel and where they land, never what arrives: each one under
// the deterministic oracle (the final digest after a migration in mid-run equals the run's without it).
describe('data path: the deterministic oracle holds', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '11', '--ops', '6000', '--dirty-rate', '24MiB'];

  it('into guest memory the destination faulted in before listening (--prefault)', async () => {
    const expected = await oracleDigest(guestArgs);
    const destReport = dir.file('prefault-dest.json');
    const dest = await startDest(['--once', '--prefault', '64MiB', '--report', destReport]);
    const source = runSource([...guestArgs, '--migrate-to', dest.address, '--migrate-after', '400ms']);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    expect(readJson(destReport).finalDigest).toBe(expected);
  });
});
