import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { checkIncrPattern } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { finalDigestOf, migrateOnce, oracleDigest, readJson, runSource, startDest, tempDir, waitForLine, waitForLog } from './support/agents.js';
import { waitFor, waitForValue } from './support/wait.js';

// The deterministic oracle in post-copy: the guest runs at the destination from the switch on, its pages
// arriving as it faults on them and as the source pushes them; the final digest must equal the run without
// migration. Rates as in oracle.test.ts, so that the switch comes in mid-run.
const CASES = [
  { workload: 'uniform', ops: 6000, extra: ['--dirty-rate', '24MiB'], prepaging: 'bubble' },
  { workload: 'hotcold', ops: 12000, extra: ['--dirty-rate', '48MiB', '--hot-bytes', '2MiB'], prepaging: 'forward' },
  { workload: 'stream', ops: 24000, extra: ['--dirty-rate', '96MiB'], prepaging: 'linear' },
];

describe('post-copy', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  for (const { workload, ops, extra, prepaging } of CASES) {
    it(`${workload}, 2 vCPUs, ${prepaging}: the oracle holds and every page crosses once`, async () => {
      // Four times the ops: paced, they last about 2 s, so the guest still runs when the migration starts 400 ms in,
      // also when a loaded host delays the source's timer (with the plain count it once finished first).
      const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', workload, '--seed', '7', '--ops', String(4 * ops), ...extra];
      const expected = await oracleDigest(guestArgs);
      const sourceArgs = ['--mode', 'postcopy', '--prepaging', prepaging, '--migrate-after', '400ms'];
      const { sourceDone, destDone, report, received } = await migrateOnce(dir, workload, guestArgs, sourceArgs);
      expect(report.status).toBe('completed');
      expect(report.guestOpsAtStart).toBeGreaterThan(0);
      expect(report.guestOpsAtPark).toBeLessThan(2 * 4 * ops);
      expect(report.postcopy.prepaging).toBe(prepaging);
      expect(report.postcopy.pagesSentTwice).toBe(0);
      expect(report.postcopy.pagesPushed + report.postcopy.pagesAnswered).toBe(report.postcopy.missingAtSwitch);
      expect(finalDigestOf(sourceDone.stdout)).toBeUndefined();
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
      expect(received.finalDigest).toBe(expected);
      expect(received.postcopy.missingAtSwitch).toBe(report.postcopy.missingAtSwitch);
      expect(received.postcopy.latencyBuckets).toHaveLength(24);
      expect(received.postcopy.vcpuFaults).toHaveLength(2);
    });
  }

  for (const { workload, ops, extra } of CASES) {
    it(`hybrid, ${workload}, 2 vCPUs: pre-copy rounds over the downtime limit, then post-copy; the oracle holds`, async () => {
      // Three times the ops: the guest must still run when pre-copy gives up, also on a slow host.
      const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', workload, '--seed', '8', '--ops', String(3 * ops), ...extra];
      const expected = await oracleDigest(guestArgs);
      // A 1 ms limit no stop-and-copy can meet: at max-rounds the policy gives up, and hybrid switches instead.
      const sourceArgs = ['--mode', 'hybrid', '--downtime-limit', '1ms', '--max-rounds', '3', '--migrate-after', '400ms'];
      const { sourceDone, destDone, report } = await migrateOnce(dir, `hybrid-${workload}`, guestArgs, sourceArgs);
      expect(report.status).toBe('completed');
      expect(report.switchoverReason).toBe('postcopy-over-limit');
      expect(report.rounds).toHaveLength(3);
      expect(report.postcopy.missingAtSwitch).toBeGreaterThan(0);
      expect(report.postcopy.pagesSentTwice).toBe(0);
      expect(finalDigestOf(sourceDone.stdout)).toBeUndefined();
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
    });
  }

  it('hybrid with nothing dirty ends in stop-and-copy, with a destination ready for post-copy', async () => {
    // A paused guest dirties nothing: the policy stops after one round, and a stop-and-copy is best.
    const sourceReport = dir.file('hybrid-paused-source.json');
    const destReport = dir.file('hybrid-paused-dest.json');
    const dest = await startDest(['--once', '--run-for', '200ms', '--report', destReport]);
    const source = runSource(['--memory', '16MiB', '--vcpus', '2', '--workload', 'uniform', '--paused', '--mode', 'hybrid', '--migrate-to', dest.address, '--migrate-after', '0ms', '--report', sourceReport]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    const report = readJson(sourceReport);
    expect(report.status).toBe('completed');
    // Under the downtime limit, or nothing dirty: either way no reason to go on in post-copy.
    expect(report.switchoverReason).toMatch(/^(downtime-limit|nothing-dirty)$/);
    expect(report.postcopy).toBeUndefined();
    expect(readJson(destReport).status).toBe('completed');
  });

  it('POST /migrations/:id/postcopy switches a hybrid migration in pre-copy; outside it, 409', async () => {
    const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '9', '--dirty-rate', '256MiB', '--ops', '300000'];
    const expected = await oracleDigest(guestArgs.map((arg, i) => (guestArgs[i - 1] === '--dirty-rate' ? '0' : arg)));
    const dest = await startDest(['--once']);
    const source = runSource([...guestArgs, '--control-port', '0']);
    try {
      const url = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
      const call = async (path: string, body?: unknown): Promise<{ status: number; body: any }> => {
        const res = await fetch(`${url}${path}`, body === undefined ? { method: 'POST' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: res.status, body: await res.json() };
      };
      // 3 MB/s cannot keep up with the guest: pre-copy goes on, round after round, until told.
      const started = await call('/migrations', { target: dest.address, mode: 'hybrid', maxBandwidthBytesPerSec: 3_000_000, downtimeLimitMs: 1 });
      expect(started.status).toBe(201);
      const id: string = started.body.id;
      await waitForValue(async () => (await (await fetch(`${url}/migrations/${id}`)).json()) as { round: number; phase: string }, (m) => m.phase === 'pre-copy' && m.round >= 2, {
        intervalMs: 100,
        what: 'a second pre-copy round',
      });
      const switched = await call(`/migrations/${id}/postcopy`);
      expect(switched.status).toBe(202);
      const done = await waitForValue(
        async () => (await (await fetch(`${url}/migrations/${id}`)).json()) as { report: Record<string, any> | null },
        (body) => body.report !== null,
        { intervalMs: 100, what: 'the migration to end' },
      );
      expect(done.report!.status).toBe('completed');
      expect(done.report!.switchoverReason).toBe('postcopy-requested');
      const again = await call(`/migrations/${id}/postcopy`);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('LM_ERR_CONFLICT');
      const destDone = await dest.done;
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
    } finally {
      source.child.kill('SIGTERM');
      dest.child.kill('SIGTERM');
      await Promise.all([source.done, dest.done]);
    }
  });

  it("incr: QEMU's check holds at the destination, and the guest keeps running", async () => {
    const agent = new DestAgent({ maxMemoryBytes: 1024 ** 3 });
    const { port } = await agent.listen(0);
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    const source = runSource(['--memory', '32MiB', '--vcpus', '2', '--workload', 'incr', '--dirty-rate', '64MiB', '--mode', 'postcopy', '--migrate-to', `127.0.0.1:${port}`, '--migrate-after', '500ms']);
    const [{ guest, report }] = await arrived;
    try {
      const sourceDone = await source.done;
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(report.status).toBe('completed');
      expect(report.postcopy?.missingAtSwitch).toBeGreaterThan(0);
      const before = guest.opsDone();
      await waitFor(() => guest.opsDone() > before, { what: 'the guest to run at the destination' });
      await guest.park();
      const check = checkIncrPattern(guest.memory, guest.vcpuCount);
      expect(check.ok, check.detail).toBe(true);
      expect(check.edges).toBeLessThanOrEqual(guest.vcpuCount);
    } finally {
      await guest.stop();
      await agent.close();
    }
  });

  it('the destination dies after the switch: the source reports LM_ERR_POSTCOPY_FAILED and never resumes its guest', async () => {
    // Every page of a 256 MiB stream guest is written, so the push is still running when the destination dies.
    const sourceReport = dir.file('killed-source.json');
    const dest = await startDest(['--once']);
    const source = runSource(['--memory', '256MiB', '--vcpus', '2', '--workload', 'stream', '--dirty-rate', '0', '--mode', 'postcopy', '--prepaging', 'linear', '--migrate-to', dest.address, '--migrate-after', '1500ms', '--report', sourceReport]);
    await waitForLog(source, { msg: 'switched to post-copy: the guest runs at the destination' });
    dest.child.kill('SIGKILL');
    const done = await source.done;
    expect(done.code).toBe(1);
    const report = readJson(sourceReport);
    expect(report.status).toBe('failed');
    expect(report.error.code).toBe('LM_ERR_POSTCOPY_FAILED');
    // It ended by itself (no --run-for): its copy is stale, so hosting ends with the failure instead of waiting
    // on a guest that can never run again. Parked at the switch and never resumed: not one op after the park.
    expect(report.opsDone).toBe(report.guestOpsAtPark);
    expect(finalDigestOf(done.stdout)).toBeUndefined();
    expect(done.stderr).toMatch(/LM_ERR_POSTCOPY_FAILED/);
  });

  it('POST /migrations with mode postcopy: the guest switches and completes at the destination', async () => {
    const dest = await startDest(['--once', '--run-for', '30s', '--control-port', '0']);
    const destUrl = (await waitForLine(dest, /^control (http:\/\/\S+)$/))[1]!;
    const source = runSource(['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--control-port', '0']);
    try {
      const url = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
      const post = await fetch(`${url}/migrations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target: dest.address, mode: 'postcopy', prepaging: 'bubble' }),
      });
      expect(post.status).toBe(201);
      const { id } = (await post.json()) as { id: string };
      const done = await waitForValue(
        async () => (await (await fetch(`${url}/migrations/${id}`)).json()) as { report: Record<string, any> | null },
        (body) => body.report !== null,
        { intervalMs: 100, what: 'the migration to end' },
      );
      expect(done.report!.status).toBe('completed');
      expect(done.report!.postcopy.prepaging).toBe('bubble');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^livemig_source_migration_postcopy_pages\\{.*kind="missing".*\\} ${done.report!.postcopy.missingAtSwitch}$`, 'm'));
      expect(metrics).toMatch(/^livemig_source_migration_postcopy_pages\{.*kind="sent-twice".*\} 0$/m);
      const destMetrics = await (await fetch(`${destUrl}/metrics`)).text();
      expect(destMetrics).toMatch(/^livemig_dest_incoming_postcopy_faults\{.*kind="faults".*\} \d+$/m);
      expect(destMetrics).toMatch(/^livemig_dest_incoming_postcopy_blocktime_seconds(\{.*\})? [\d.e-]+$/m);
      const refused = await fetch(`${url}/migrations/${id}`, { method: 'DELETE' });
      expect(refused.status).toBe(409);
      const badMode = await fetch(`${url}/migrations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: dest.address, mode: 'sideways' }) });
      expect(badMode.status).toBe(400);
    } finally {
      source.child.kill('SIGTERM');
      dest.child.kill('SIGTERM');
      await Promise.all([source.done, dest.done]);
    }
  });

  it('a bad --mode or --prepaging is a usage error before anything starts', async () => {
    const badOrder = await runSource(['--memory', '16MiB', '--workload', 'idle', '--mode', 'postcopy', '--prepaging', 'sideways', '--migrate-to', '127.0.0.1:9']).done;
    expect(badOrder.code).toBe(2);
    expect(badOrder.stderr).toMatch(/--prepaging: expected one of bubble, forward, linear/);
    const badMode = await runSource(['--memory', '16MiB', '--workload', 'idle', '--mode', 'sideways', '--migrate-to', '127.0.0.1:9']).done;
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/--mode: expected one of precopy, postcopy/);
  });

  it('post-copy with --working-set, or with a guest kernel, is refused at start: those pages would be lost', async () => {
    const withWorkingSet = await runSource(['--memory', '16MiB', '--workload', 'uniform', '--mode', 'hybrid', '--working-set', '64', '--migrate-to', '127.0.0.1:9']).done;
    expect(withWorkingSet.code).toBe(2);
    expect(withWorkingSet.stderr).toMatch(/--working-set works with --mode precopy only, not hybrid/);
    const withKernel = await runSource(['--memory', '64MiB', '--vcpus', '1', '--workload', 'fileserver', '--disk', dir.file('refused.disk'), '--mode', 'postcopy', '--migrate-to', '127.0.0.1:9']).done;
    expect(withKernel.code).toBe(2);
    expect(withKernel.stderr).toMatch(/--mode postcopy: the fileserver guest's kernel does not check for missing pages/);
  });
});
