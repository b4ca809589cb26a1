import { afterAll, describe, expect, it } from 'vitest';
import { readJson, runSource, startAgent, startDest, tempDir, SOURCE_BIN } from './support/agents.js';

// Each policy switches for the reason it claims, on a workload built to trigger it.
describe('switchover policies end to end', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  async function migrate(name: string, args: string[]): Promise<Record<string, any>> {
    const dest = await startDest(['--once', '--run-for', '100ms']);
    const reportPath = dir.file(`${name}.json`);
    const source = runSource([...args, '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', reportPath]);
    const [done] = await Promise.all([source.done, dest.done]);
    expect(done.code, done.stderr).toBe(0);
    return readJson(reportPath);
  }

  it('xen on an idle guest: fewer than 50 dirty pages after the first round', async () => {
    const report = await migrate('xen-idle', ['--memory', '32MiB', '--workload', 'idle', '--policy', 'xen']);
    expect(report.policy).toBe('xen');
    expect(report.switchoverReason).toBe('xen-few-dirty');
    expect(report.rounds).toHaveLength(2);
  });

  it('patterns on stream: switches within 3 rounds after the first full pass', async () => {
    // stream rewrites the same pages every sweep, far faster than pre-copy can catch up.
    const report = await migrate('patterns-stream', ['--memory', '64MiB', '--workload', 'stream', '--dirty-rate', '256MiB', '--policy', 'patterns', '--downtime-limit', '0ms']);
    expect(report.policy).toBe('patterns');
    expect(report.switchoverReason).toMatch(/^patterns-(drains|resent|stable)$/);
    const preCopyRounds = report.rounds.filter((round: { final: boolean }) => !round.final).length;
    expect(preCopyRounds).toBeGreaterThanOrEqual(2);
    expect(preCopyRounds).toBeLessThanOrEqual(4);
  });

  it('an unknown policy is a one-line error naming the flag', async () => {
    const done = await startAgent(SOURCE_BIN, ['run', '--policy', 'hope']).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim()).toBe('source-agent: --policy: expected one of downtime, xen, patterns, got "hope"');
  });
});
