import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMIT_JOURNAL_FILE } from '@livemig/dest-agent';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { startMigration, type Migration } from '@livemig/source-agent';
import { startDest, tempDir, waitForLine, type Agent } from './support/agents.js';
import { FrameProxy } from './support/frame-proxy.js';
import { waitForValue } from './support/wait.js';

// The destination operator's decision over real HTTP (README, "The control API": POST /migrations/:id/resolve
// on an incoming id). A proxy drops every Confirm, so each committed guest stays parked at the destination (a
// real dest-agent process). Discarded, it is journaled so: the source's outcome query hears `discarded` and the
// guest resumes at the source. Resumed, it runs at the destination (the source's parked copy is discarded by
// its own operator). Either way it reaches the oracle's digest on exactly one host.
const MEMORY = 16 * 1024 * 1024;
const WORKLOAD = parseWorkloadSpec({ name: 'uniform', seed: 7, ops: 20_000, params: {} });

interface IncomingView {
  id: string;
  status: string;
  error?: { code: string } | null;
}

describe('POST /migrations/:id/resolve at the destination, over HTTP', () => {
  const dir = tempDir();
  let dest: Agent & { port: number };
  let control: string;
  let proxy: FrameProxy;
  let expected: string;
  const guests: Guest[] = [];

  beforeAll(async () => {
    const baseline = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 1, workload: WORKLOAD });
    await baseline.finished;
    expected = baseline.digest();
    await baseline.stop();
    dest = await startDest(['--control-port', '0', '--state-dir', dir.file('dest-state')]);
    control = (await waitForLine(dest, /^control (http:\/\/\S+)$/))[1]!;
    proxy = await FrameProxy.start({ port: dest.port }, [{ direction: 'toTarget', frame: 'Confirm', action: { kind: 'drop' } }]);
  });
  afterAll(async () => {
    await proxy.close();
    for (const guest of guests) await guest.stop();
    dest.child.kill('SIGTERM');
    await dest.done;
    dir.remove();
  });

  async function post(id: string, body: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${control}/migrations/${id}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }

  /** Starts migrating a fresh guest through the proxy; resolves once the destination holds it parked. */
  async function parkAtDestination(outcomeTimeoutMs: number): Promise<{ migration: Migration; source: Guest; incoming: IncomingView }> {
    const source = await Guest.start({ memory: GuestMemory.create(MEMORY), vcpus: 1, workload: WORKLOAD });
    guests.push(source);
    const migration = startMigration(source, { target: { host: '127.0.0.1', port: proxy.port }, streams: 1, answerTimeoutMs: 1_500, outcomeTimeoutMs });
    const incoming = await waitForValue(
      async () => ((await (await fetch(`${control}/migrations`)).json()) as { incoming: IncomingView[] }).incoming.find((entry) => entry.status === 'committed'),
      (entry) => entry !== undefined,
      { what: 'an incoming migration parked in status committed' },
    );
    return { migration, source, incoming: incoming! };
  }

  it('discard: 200, journaled; the source hears discarded and resumes its guest; a second decision is 409', async () => {
    const { migration, source, incoming } = await parkAtDestination(60_000);
    const discarded = await post(incoming.id, { action: 'discard' });
    expect(discarded.status).toBe(200);
    expect(discarded.body).toMatchObject({ direction: 'in', id: incoming.id, status: 'failed', error: { code: 'LM_ERR_OUTCOME_DECIDED' } });

    const journal = readFileSync(join(dir.file('dest-state'), COMMIT_JOURNAL_FILE), 'utf8');
    expect(journal).toMatch(/"outcome":"committed"[^\n]*\n[^\n]*"outcome":"discarded"/);

    const report = await migration.done;
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('LM_ERR_OUTCOME_DECIDED');
    expect(report.outcome).toMatchObject({ answer: 'discarded' });
    await source.finished;
    expect(source.digest()).toBe(expected);

    const again = await post(incoming.id, { action: 'resume' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('LM_ERR_CONFLICT');
  });

  it('resume: 200, the guest runs at the destination to the oracle digest; then 409; a bad action is 400 with a code', async () => {
    const { migration, source, incoming } = await parkAtDestination(2_000);
    const report = await migration.done;
    expect(report.status).toBe('outcome-unknown');

    const badAction = await post(incoming.id, { action: 'maybe' });
    expect(badAction.status).toBe(400);
    expect(badAction.body.error.code).toBe('LM_ERR_BAD_REQUEST');
    expect((await post(incoming.id, {})).status).toBe(400);

    const digest = waitForLine(dest, /^final digest (\S+)$/, 120_000);
    const resumed = await post(incoming.id, { action: 'resume' });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ direction: 'in', id: incoming.id, status: 'completed' });
    // The source's copy, parked all along, is dropped by its operator: the guest runs at the destination only.
    await migration.resolve('discard');
    expect(source.parked).toBe(true);
    expect((await digest)[1]).toBe(expected);

    const again = await post(incoming.id, { action: 'discard' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('LM_ERR_CONFLICT');
  });
});
