import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { startMigration, type MigrationReport } from '@livemig/source-agent';
import { FrameProxy, type ProxyRule } from './support/frame-proxy.js';

// The commit protocol under a hostile network (PROTOCOL.md, "What each loss or crash leads to"): a proxy on the
// control connection drops, cuts or holds one frame, or the destination goes away after its journal write.
// Every case ends with the guest running on exactly one host, or parked on both and resolved, and its final
// digest is the oracle's.
const MEMORY = 16 * 1024 * 1024;
const WORKLOAD = parseWorkloadSpec({ name: 'uniform', seed: 7, ops: 20_000, params: {} });
/** Short, so that a lost answer is noticed quickly; the outcome query then takes over. */
const ANSWER_TIMEOUT_MS = 1_500;

interface Run {
  report: MigrationReport;
  /** The guest if it arrived at the destination. */
  arrival: ArrivedGuest | undefined;
  source: Guest;
  resolve: (action: 'resume' | 'discard') => Promise<MigrationReport>;
}

describe('commit outcome: a lost message never gives two running copies', () => {
  let expected: string;
  const stateDir = mkdtempSync(join(tmpdir(), 'livemig-commit-outcome-'));
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    const baseline = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 1, workload: WORKLOAD });
    await baseline.finished;
    expected = baseline.digest();
    await baseline.stop();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  async function destination(port = 0, dir = mkdtempSync(join(stateDir, 'dest-'))): Promise<{ agent: DestAgent; port: number; dir: string }> {
    const agent = new DestAgent({ maxMemoryBytes: 4 * MEMORY, stateDir: dir, warmChannels: 1, warmVcpus: 1 });
    const address = await agent.listen(port);
    cleanups.push(() => agent.close());
    return { agent, port: address.port, dir };
  }

  async function migrate(proxy: FrameProxy, agent: DestAgent, outcomeTimeoutMs: number, during?: () => Promise<void>): Promise<Run> {
    let arrival: ArrivedGuest | undefined;
    agent.on('arrived', (arrived) => (arrival = arrived));
    const source = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 1, workload: WORKLOAD });
    cleanups.push(() => source.stop());
    const migration = startMigration(source, {
      target: { host: '127.0.0.1', port: proxy.port },
      streams: 1,
      answerTimeoutMs: ANSWER_TIMEOUT_MS,
      outcomeTimeoutMs,
    });
    await during?.();
    const report = await migration.done;
    // Let an activation that the last frame triggered settle.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { report, arrival, source, resolve: (action) => migration.resolve(action) };
  }

  /** The guest runs at the destination only, and reaches the oracle's digest there. */
  async function expectRunsAtDestination(run: Run): Promise<void> {
    expect(run.report.status, JSON.stringify(run.report.error)).toBe('completed');
    expect(run.report.confirmSent).toBe(true);
    expect(run.arrival, 'the guest arrived').toBeDefined();
    const { guest } = run.arrival!;
    cleanups.push(() => guest.stop());
    await guest.finished;
    expect(guest.digest()).toBe(expected);
  }

  /** The guest runs at the source only, and reaches the oracle's digest there. */
  async function expectRunsAtSource(run: Run): Promise<void> {
    expect(run.arrival, 'no guest arrived at the destination').toBeUndefined();
    await run.source.finished;
    expect(run.source.digest()).toBe(expected);
  }

  async function proxied(port: number, rules: ProxyRule[]): Promise<FrameProxy> {
    const proxy = await FrameProxy.start({ port }, rules);
    cleanups.push(() => proxy.close());
    return proxy;
  }

  it('Committed dropped: the source asks, hears committed, confirms over the outcome connection; the guest runs at the destination', async () => {
    const dest = await destination();
    const proxy = await proxied(dest.port, [{ direction: 'toClient', frame: 'Committed', connection: 1, action: { kind: 'drop' } }]);
    const run = await migrate(proxy, dest.agent, 20_000);
    expect(run.report.outcome).toMatchObject({ answer: 'committed' });
    expect(proxy.seen.some((seen) => seen.connection > 1 && seen.name === 'Confirm')).toBe(true);
    await expectRunsAtDestination(run);
  });

  it('Confirm dropped: no Activated, Confirm delivered again over an outcome connection', async () => {
    const dest = await destination();
    const proxy = await proxied(dest.port, [{ direction: 'toTarget', frame: 'Confirm', connection: 1, action: { kind: 'drop' } }]);
    const run = await migrate(proxy, dest.agent, 20_000);
    expect(run.report.outcome).toMatchObject({ answer: 'committed' });
    await expectRunsAtDestination(run);
  });

  it("Confirm dropped, then the destination's operator discards: the query hears discarded, and the source resumes although it confirmed", async () => {
    const dest = await destination();
    let discarded!: () => void;
    const afterDiscard = new Promise<void>((resolve) => (discarded = resolve));
    const proxy = await proxied(dest.port, [
      { direction: 'toTarget', frame: 'Confirm', connection: 1, action: { kind: 'drop' } },
      // The source's first question waits for the operator, so that it is asked after the discard.
      { direction: 'toTarget', frame: 'OutcomeQuery', connection: 2, action: { kind: 'delay', until: afterDiscard } },
    ]);
    const run = await migrate(proxy, dest.agent, 20_000, async () => {
      await proxy.waitFor('Confirm', { direction: 'toTarget' });
      const parked = dest.agent.incoming().find((report) => report.status === 'committed')!;
      await dest.agent.resolve(parked.id, 'discard');
      discarded();
    });
    expect(run.report.status).toBe('failed');
    expect(run.report.error?.code).toBe('LM_ERR_OUTCOME_DECIDED');
    expect(run.report.confirmSent).toBe(true);
    expect(run.report.outcome).toMatchObject({ answer: 'discarded' });
    expect(dest.agent.journal.get(run.report.migrationId!)).toMatchObject({ outcome: 'discarded' });
    await expectRunsAtSource(run);
  });

  it('a slow Accept does not count against the answer timeout, which is for the answers after Complete', async () => {
    // A loaded destination may take longer than the answer timeout to reserve a guest (its setup has taken
    // seconds on this machine). That wait is not the commit's, and must not fail the migration before Complete.
    const dest = await destination();
    const proxy = await proxied(dest.port, [{ direction: 'toClient', frame: 'Accept', connection: 1, action: { kind: 'delay', ms: ANSWER_TIMEOUT_MS * 2 } }]);
    const run = await migrate(proxy, dest.agent, 20_000);
    expect(run.report.outcome).toBeNull();
    await expectRunsAtDestination(run);
  });

  it('connection cut after Complete: the destination commits and parks, the query confirms it', async () => {
    const dest = await destination();
    const proxy = await proxied(dest.port, [{ direction: 'toTarget', frame: 'Complete', connection: 1, action: { kind: 'cut', how: 'reset' } }]);
    const run = await migrate(proxy, dest.agent, 20_000);
    expect(run.report.outcome, JSON.stringify(run.report)).not.toBeNull();
    // Either the commit or the query's record came first: the guest then runs on exactly one host.
    if (run.report.status === 'completed') await expectRunsAtDestination(run);
    else {
      expect(run.report.outcome?.answer).toBe('aborted');
      await expectRunsAtSource(run);
    }
  });

  it('connection cut after Committed: Confirm goes over an outcome connection; the guest runs at the destination', async () => {
    const dest = await destination();
    const proxy = await proxied(dest.port, [{ direction: 'toClient', frame: 'Committed', connection: 1, action: { kind: 'cut', how: 'close' } }]);
    const run = await migrate(proxy, dest.agent, 20_000);
    expect(run.report.outcome).toMatchObject({ answer: 'committed' });
    await expectRunsAtDestination(run);
  });

  it('destination gone after its journal write: outcome unknown, parked on both; the operator resumes it at the source', async () => {
    const dest = await destination();
    // Committed never reaches the source: the destination goes away with the commit journaled.
    const proxy = await proxied(dest.port, [{ direction: 'toClient', frame: 'Committed', connection: 1, action: { kind: 'drop' } }]);
    const run = (await migrate(proxy, dest.agent, 2_000, async () => {
      await proxy.waitFor('Committed', { direction: 'toClient' });
      // Committed goes out only after the journal holds the commit.
      expect(dest.agent.journal.records().map((record) => record.outcome)).toEqual(['committed']);
      await dest.agent.close();
    }));
    expect(run.report.status).toBe('outcome-unknown');
    expect(run.report.error?.code).toBe('LM_ERR_OUTCOME_UNKNOWN');
    expect(run.report.confirmSent).toBe(false);
    expect(run.source.parked).toBe(true);
    const resolved = await run.resolve('resume');
    expect(resolved.status).toBe('failed');
    expect(resolved.resolution).toMatchObject({ action: 'resume' });
    await expectRunsAtSource(run);
  });

  it('destination restarted with its journal before the query: unknown (committed by an earlier run); resumed by the operator; the id is never taken again', async () => {
    const first = await destination();
    const proxy = await proxied(first.port, [{ direction: 'toClient', frame: 'Committed', connection: 1, action: { kind: 'drop' } }]);
    let restarted: DestAgent | undefined;
    const run = (await migrate(proxy, first.agent, 2_000, async () => {
      await proxy.waitFor('Committed', { direction: 'toClient' });
      await first.agent.close();
      restarted = (await destination(first.port, first.dir)).agent;
    }));
    expect(run.report.status).toBe('outcome-unknown');
    expect(run.report.outcome).toMatchObject({ answer: 'unknown', reason: expect.stringContaining('earlier run') });
    expect(restarted!.journal.get(run.report.migrationId!)).toMatchObject({ outcome: 'committed', thisRun: false });
    await run.resolve('resume');
    await expectRunsAtSource(run);
  });
});
