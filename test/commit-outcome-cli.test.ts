import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';
import { dyingDestination } from './support/dying-destination.js';
import { FrameProxy, type ProxyRule } from './support/frame-proxy.js';

// The commit protocol between the real CLIs (PROTOCOL.md, "What each loss or crash leads to"): a proxy on the
// control connection loses an answer, `--answer-timeout` makes the source notice it quickly, and the outcome
// query decides. The guest ends on exactly one host, which prints the oracle's final digest. When the
// destination dies with Complete on its way, the source cannot learn the outcome, keeps the guest parked, and
// without a control API to resolve it exits with the distinct status 3 (README, "Exit status").
const GUEST = ['--memory', '16MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '7', '--ops', '20000'];

describe('source-agent run and dest-agent listen when an answer is lost', () => {
  let expected: string;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    // Pacing changes timing, never what is written: the oracle runs unpaced.
    expected = await oracleDigest([...GUEST, '--dirty-rate', '0']);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A migration between the two CLIs through a proxy with `rules`; resolves once both processes have exited. */
  async function migrateThrough(rules: ProxyRule[]) {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const dest = await startDest(['--once', '--state-dir', dir.file('dest-state'), '--report', dir.file('dest.json')]);
    cleanups.push(() => dest.child.kill('SIGKILL'));
    const proxy = await FrameProxy.start({ port: dest.port }, rules);
    cleanups.push(() => proxy.close());
    const reportPath = dir.file('source.json');
    const source = runSource([
      ...GUEST, '--migrate-to', proxy.address, '--migrate-after', '200ms',
      '--answer-timeout', '1s', '--outcome-timeout', '30s', '--report', reportPath,
    ]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    return { proxy, sourceDone, destDone, report: readJson(reportPath), destReport: readJson(dir.file('dest.json')) };
  }

  it('Committed dropped: the source asks, confirms over an outcome connection, and the guest finishes at the destination only', async () => {
    const run = await migrateThrough([{ direction: 'toClient', frame: 'Committed', connection: 1, action: { kind: 'drop' } }]);
    expect(run.sourceDone.code, run.sourceDone.stderr).toBe(0);
    expect(run.report.status).toBe('completed');
    expect(run.report.confirmSent).toBe(true);
    expect(run.report.outcome).toMatchObject({ answer: 'committed' });
    expect(run.proxy.seen.some((seen) => seen.connection > 1 && seen.name === 'Confirm')).toBe(true);
    expect(finalDigestOf(run.sourceDone.stdout)).toBeUndefined();
    expect(run.destDone.code, run.destDone.stderr).toBe(0);
    expect(finalDigestOf(run.destDone.stdout)).toBe(expected);
    // The guest waited parked from Committed to the Confirm that came over the outcome connection.
    expect(run.destReport).toMatchObject({ status: 'completed', commitJournalMs: expect.any(Number), confirmWaitMs: expect.any(Number) });
  });

  it('connection cut after Complete: the guest finishes on exactly one host, as the outcome query decided', async () => {
    const run = await migrateThrough([{ direction: 'toTarget', frame: 'Complete', connection: 1, action: { kind: 'cut', how: 'reset' } }]);
    expect(run.report.outcome, JSON.stringify(run.report)).not.toBeNull();
    const atSource = finalDigestOf(run.sourceDone.stdout);
    const atDest = finalDigestOf(run.destDone.stdout);
    // Either the commit or the query's record came first.
    if (run.report.status === 'completed') {
      expect(run.report.outcome.answer).toBe('committed');
      expect([atSource, atDest]).toEqual([undefined, expected]);
      expect(run.destDone.code, run.destDone.stderr).toBe(0);
    } else {
      expect(run.report.outcome.answer).toBe('aborted');
      expect([atSource, atDest]).toEqual([expected, undefined]);
      expect(run.destReport.status).toBe('failed');
    }
  });

  it('exits 3 with status outcome-unknown and LM_ERR_OUTCOME_UNKNOWN when the destination is gone after Complete', async () => {
    const dir = tempDir();
    const dest = await dyingDestination(dir.file('dest-state'));
    try {
      const reportPath = dir.file('source.json');
      const source = runSource([
        ...GUEST, '--migrate-to', dest.address, '--migrate-after', '200ms', '--outcome-timeout', '1s', '--report', reportPath,
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
