import { describe, expect, it } from 'vitest';
import { readJson, runSource, tempDir } from './support/agents.js';
import { dyingDestination } from './support/dying-destination.js';

// The real CLI when the destination dies with Complete on its way: the source cannot learn the outcome, keeps
// the guest parked, and without a control API to resolve it exits with the distinct status 3 (README, "Exit
// status"), its report saying so.
describe('source-agent run with an unknown outcome', () => {
  it('exits 3 with status outcome-unknown and LM_ERR_OUTCOME_UNKNOWN when the destination is gone after Complete', async () => {
    const dir = tempDir();
    const dest = await dyingDestination(dir.file('dest-state'));
    try {
      const reportPath = dir.file('source.json');
      const source = runSource([
        '--memory', '16MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '7', '--ops', '20000',
        '--migrate-to', dest.address, '--migrate-after', '200ms', '--outcome-timeout', '1s', '--report', reportPath,
      ]);
      await dest.killAtComplete();
      const done = await source.done;
      expect(done.code, done.stderr).toBe(3);
      expect(done.stderr).toMatch(/^source-agent: migration outcome-unknown: .*\(LM_ERR_OUTCOME_UNKNOWN\)$/m);
      const report = readJson(reportPath);
      expect(report.status).toBe('outcome-unknown');
      expect(report.error.code).toBe('LM_ERR_OUTCOME_UNKNOWN');
      expect(report.confirmSent).toBe(false);
      expect(report.outcome.answer).toBe('no-answer');
      expect(report.outcome.queries).toBeGreaterThanOrEqual(2);
      expect(report.resolution).toBeNull();
    } finally {
      await dest.close();
      dir.remove();
    }
  });
});
