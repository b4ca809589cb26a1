import { describe, expect, it } from 'vitest';
import { oracleDigest, runSource, startAgent, tempDir, waitForLine, SOURCE_BIN } from './support/agents.js';
import { dyingDestination } from './support/dying-destination.js';

// The operator's path through the real CLIs: `source-agent migrate` through the control API loses the answer to
// Complete (the destination dies with Complete on its way), exits 3 with the report saying outcome-unknown;
// `source-agent resolve ... --action resume` (POST /migrations/:id/resolve) runs the guest here again, and it
// reaches the oracle's digest. A second decision is refused with 409.
const GUEST = ['--memory', '16MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '7', '--ops', '200000'];

describe('an unknown outcome resolved by the operator', () => {
  it('migrate exits 3, resolve resumes the guest at the source, and it finishes with the oracle digest', async () => {
    // Pacing changes timing, never what is written: the oracle runs unpaced.
    const expected = await oracleDigest([...GUEST, '--dirty-rate', '0']);
    const dir = tempDir();
    const dest = await dyingDestination(dir.file('dest-state'));
    const source = runSource([...GUEST, '--outcome-timeout', '1s', '--control-port', '0']);
    try {
      const control = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
      const migrate = startAgent(SOURCE_BIN, ['migrate', '--control', control, '--to', dest.address, '--json']);
      await dest.killAtComplete();
      const migrated = await migrate.done;
      expect(migrated.code, migrated.stderr).toBe(3);
      const report = JSON.parse(migrated.stdout) as { status: string; migrationId: string; error: { code: string } };
      expect(report.status).toBe('outcome-unknown');
      expect(report.error.code).toBe('LM_ERR_OUTCOME_UNKNOWN');

      const resolved = await startAgent(SOURCE_BIN, ['resolve', '--control', control, '--id', report.migrationId, '--action', 'resume']).done;
      expect(resolved.code, resolved.stderr).toBe(0);
      const again = await fetch(`${control}/migrations/${report.migrationId}/resolve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'discard' }),
      });
      expect(again.status).toBe(409);
      const digest = (await waitForLine(source, /^final digest (\S+)$/, 180_000))[1];
      expect(digest).toBe(expected);
    } finally {
      source.child.kill('SIGTERM');
      await source.done;
      await dest.close();
      dir.remove();
    }
  });
});
