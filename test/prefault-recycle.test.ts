import { afterAll, describe, expect, it } from 'vitest';
import { oracleDigest, runSource, startDest, tempDir, waitForLog } from './support/agents.js';
import { waitFor } from './support/wait.js';

const MiB = 1024 * 1024;

// With --prefault, a guest that leaves the destination gives its memory back, zeroed, for the next one. If a
// page were not zeroed, the next guest (whose never-written pages are known zero and never sent) would see the
// last guest's bytes there, and its final digest would not be the oracle's.
describe('--prefault: a departed guest memory goes to the next guest', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const guest = (seed: number): string[] => ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', String(seed), '--ops', '6000', '--dirty-rate', '24MiB'];

  it('the second guest runs on the first one\'s memory, zeroed: its final digest is the oracle\'s', async () => {
    const expected = await oracleDigest(guest(12));
    const dest = await startDest(['--prefault', '64MiB']);
    try {
      // The first guest writes its memory with another seed, runs its operations out here and ends.
      const first = await runSource([...guest(11), '--migrate-to', dest.address, '--migrate-after', '400ms']).done;
      expect(first.code, first.stderr).toBe(0);
      const kept = await waitForLog(dest, { msg: 'departed guest memory zeroed, kept for the next guest' });
      expect(kept.keptBytes).toBe(64 * MiB);
      expect(kept.prefaultedBytes).toBe(64 * MiB);

      const second = await runSource([...guest(12), '--migrate-to', dest.address, '--migrate-after', '400ms']).done;
      expect(second.code, second.stderr).toBe(0);
      const digests = (): string[] => dest.stdout.seen.filter((line) => line.startsWith('final digest ')).map((line) => line.slice('final digest '.length));
      await waitFor(() => digests().length === 2);
      expect(digests()[1]).toBe(expected);
      // It took the kept memory: had it not, the store would be full and the second departure would keep nothing.
      const keptRecords = () => dest.logs.seen.filter((record) => record.msg === 'departed guest memory zeroed, kept for the next guest');
      await waitFor(() => keptRecords().length === 2);
      expect(keptRecords()[1]!.keptBytes).toBe(64 * MiB);
    } finally {
      dest.child.kill('SIGTERM');
      await dest.done;
    }
  });
});
