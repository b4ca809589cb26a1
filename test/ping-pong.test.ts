import { afterAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';

describe('A -> B -> A', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('a guest migrated out and back finishes with the oracle digest', async () => {
    const guest = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--seed', '11', '--ops', '24000', '--dirty-rate', '48MiB'];
    const expected = await oracleDigest(guest);

    // Host A receives the guest back on its own agent; host B forwards whatever arrives to A.
    const backAtA = await startDest(['--once', '--report', dir.file('a.json')]);
    // B sends the guest back as soon as it arrives (it still runs at B while that migration's pre-copy goes on).
    const atB = await startDest(['--once', '--migrate-to', backAtA.address, '--migrate-after', '0', '--report', dir.file('b.json')]);
    const source = runSource([...guest, '--migrate-to', atB.address, '--migrate-after', '400ms', '--report', dir.file('source.json')]);
    const [sourceDone, bDone, aDone] = await Promise.all([source.done, atB.done, backAtA.done]);

    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(bDone.code, bDone.stderr).toBe(0);
    expect(aDone.code, aDone.stderr).toBe(0);
    const first = readJson(dir.file('source.json'));
    const atBReport = readJson(dir.file('b.json'));
    const atAReport = readJson(dir.file('a.json'));
    expect(first.status).toBe('completed');
    expect(atBReport.ended).toBe('migrated');
    expect(atBReport.onward.status).toBe('completed');
    // The guest kept its identity across both hops, and ran at B between them.
    expect(atBReport.guestId).toBe(first.guestId);
    expect(atAReport.guestId).toBe(first.guestId);
    expect(atBReport.onward.guestOpsAtStart).toBeGreaterThanOrEqual(first.guestOpsAtPark);
    expect(atBReport.onward.guestOpsAtStart).toBeLessThan(2 * 24000);
    expect(finalDigestOf(aDone.stdout)).toBe(expected);
  });
});
