import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  finalDigestOf,
  oracleDigest,
  runSource,
  startAgent,
  startDest,
  waitForLine,
  SOURCE_BIN,
  DEST_BIN,
  type Agent,
} from './support/agents.js';
import { waitForValue } from './support/wait.js';

// The control API and `source-agent migrate` against real agent processes over loopback.
// 64K pages dirtied per second (about 7 MB/s of lz4-compressed pages on the wire: more than 3 MB/s), for
// about 12 s.
const GUEST_FOREVER = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '9', '--dirty-rate', '256MiB'];
const GUEST = [...GUEST_FOREVER, '--ops', '400000'];
// About 36 s: it must outlive three rounds of non-convergence, which took 10 s on a quiet host and over 30 s on
// a loaded one (a guest that finishes first lets the migration converge).
const GUEST_LONG = [...GUEST_FOREVER, '--ops', '1200000'];

/**
 * The oracle's digest of a guest, run unpaced (--dirty-rate 0): pacing changes timing, never what is written
 * (the guest package's determinism test), so the baseline takes a second, not the guest's run time.
 */
function unpacedOracle(args: string[]): Promise<string> {
  return oracleDigest(args.map((arg, i) => (args[i - 1] === '--dirty-rate' ? '0' : arg)));
}

async function startControlled(args: string[]): Promise<Agent & { url: string }> {
  const agent = runSource([...args, '--control-port', '0']);
  const match = await waitForLine(agent, /^control (http:\/\/\S+)$/);
  return Object.assign(agent, { url: match[1]! });
}

async function api<T = any>(url: string, method = 'GET', body?: unknown, raw?: string): Promise<{ status: number; body: T }> {
  const init: RequestInit = { method };
  if (body !== undefined || raw !== undefined) {
    init.body = raw ?? JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls the control API until `ok` accepts its answer. */
function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  return waitForValue(read, ok, { intervalMs: 100, what: 'an answer of the control API' });
}

describe('control API', () => {
  let expected: string;
  let expectedLong: string;
  const agents: Agent[] = [];
  beforeAll(async () => {
    expected = await unpacedOracle(GUEST);
    expectedLong = await unpacedOracle(GUEST_LONG);
  });
  afterAll(() => {
    for (const agent of agents) agent.child.kill('SIGKILL');
  });

  it("forced non-convergence, then raised limits through PATCH: completes under the oracle (QEMU's method)", async () => {
    const dest = await startDest(['--once']);
    const source = await startControlled(GUEST_LONG);
    agents.push(dest, source);
    const started = await api(`${source.url}/migrations`, 'POST', {
      target: dest.address,
      maxBandwidthBytesPerSec: 3_000_000,
      downtimeLimitMs: 1,
    });
    expect(started.status).toBe(201);
    const id: string = started.body.id;
    const path = `${source.url}/migrations/${id}`;
    // It cannot converge: rounds go by, and pages already sent are dirtied and sent again.
    const stuck = await until(() => api(path), (r) => r.body.round >= 3);
    expect(stuck.body.phase).toBe('pre-copy');
    expect(stuck.body.parameters.maxBandwidthBytesPerSec).toBe(3_000_000);
    const status = await api(`${source.url}/status`);
    expect(status.body.migration.id).toBe(id);
    expect(status.body.guest.migrating).toBe(id);

    const patched = await api(path, 'PATCH', { maxBandwidthBytesPerSec: 0, downtimeLimitMs: 2_000 });
    expect(patched.status).toBe(200);
    expect(patched.body.parameters).toMatchObject({ maxBandwidthBytesPerSec: 0, downtimeLimitMs: 2_000 });
    const done = await until(() => api(path), (r) => r.body.report !== null);
    const report = done.body.report;
    expect(report.status).toBe('completed');
    expect(report.switchoverReason).toBe('downtime-limit');
    expect(report.parameters.downtimeLimitMs).toBe(2_000);
    const preCopy = report.rounds.filter((round: { final: boolean }) => !round.final);
    expect(preCopy.length).toBeGreaterThanOrEqual(3);
    expect(preCopy.slice(1).every((round: { pagesResent: number }) => round.pagesResent > 0)).toBe(true);
    expect(done.body.progressPercent).toBe(100);

    // The guest left: the source answers, but has no guest any more; cancel and change are refused.
    expect((await api(`${source.url}/guest`)).status).toBe(404);
    expect((await api(path, 'DELETE')).status).toBe(409);
    expect((await api(path, 'PATCH', { downtimeLimitMs: 5 })).status).toBe(409);
    const metrics = await (await fetch(`${source.url}/metrics`)).text();
    expect(metrics).toMatch(/^livemig_source_migrations_total\{.*status="completed".*\} 1$/m);

    const destDone = await dest.done;
    expect(destDone.code).toBe(0);
    expect(finalDigestOf(destDone.stdout)).toBe(expectedLong);
    source.child.kill('SIGTERM');
    expect((await source.done).code).toBe(0);
  });

  it('source-agent migrate follows a migration to the end and prints its report; status reads the agent', async () => {
    const dest = await startDest(['--once']);
    const source = await startControlled(GUEST);
    agents.push(dest, source);
    const status = await startAgent(SOURCE_BIN, ['status', '--control', source.url]).done;
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ agent: 'source', guest: { vcpus: 2, memoryBytes: 64 * 1024 * 1024 } });

    const migrate = await startAgent(SOURCE_BIN, ['migrate', '--control', source.url, '--to', dest.address, '--downtime-limit', '500ms', '--json']).done;
    expect(migrate.code, migrate.stderr).toBe(0);
    const report = JSON.parse(migrate.stdout);
    expect(report.status).toBe('completed');
    expect(report.downtimeMs).toBeGreaterThan(0);
    // Not a terminal: one progress line per phase or round, and the percentage never goes down.
    const percents = [...migrate.stderr.matchAll(/\] +([\d.]+)%/g)].map((m) => Number(m[1]));
    expect(percents.length).toBeGreaterThan(0);
    expect(percents.every((value, i) => i === 0 || value >= percents[i - 1]!)).toBe(true);
    expect(finalDigestOf((await dest.done).stdout)).toBe(expected);
    source.child.kill('SIGTERM');
    await source.done;
  });

  it('rejects malformed JSON, unknown options and bad values with a 400 and a clear message', async () => {
    const source = await startControlled(GUEST_FOREVER);
    agents.push(source);
    const malformed = await api(`${source.url}/migrations`, 'POST', undefined, '{"target": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('LM_ERR_BAD_REQUEST');
    expect(malformed.body.error.message).toMatch(/^malformed JSON body: /);
    const unknown = await api(`${source.url}/migrations`, 'POST', { target: '127.0.0.1:1', speed: 'fast' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown option "speed"/);
    const badValue = await api(`${source.url}/migrations`, 'POST', { target: '127.0.0.1:1', maxRounds: 0 });
    expect(badValue.status).toBe(400);
    expect(badValue.body.error.message).toMatch(/maxRounds/);
    const badTarget = await api(`${source.url}/migrations`, 'POST', { target: 'nowhere' });
    expect(badTarget.status).toBe(400);
    expect((await api(`${source.url}/migrations/nope`, 'PATCH', { downtimeLimitMs: 1 })).status).toBe(404);
    expect((await api(`${source.url}/nothing-here`)).status).toBe(404);
    // A web page cannot drive the agent: browsers send Origin, and it is refused.
    const fromPage = await fetch(`${source.url}/migrations`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ target: '127.0.0.1:1' }),
    });
    expect(fromPage.status).toBe(403);
    // The guest was never disturbed.
    const guest = await api(`${source.url}/guest`);
    expect(guest.status).toBe(200);
    expect(guest.body.migrating).toBeNull();
    source.child.kill('SIGTERM');
    expect((await source.done).code).toBe(0);
  });
});

describe('control API of the destination agent', () => {
  const agents: Agent[] = [];
  afterAll(() => {
    for (const agent of agents) agent.child.kill('SIGKILL');
  });

  it('lists incoming migrations, shows the guest that arrived, and migrates it onward (A -> B -> C)', async () => {
    const guest = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '5', '--ops', '30000', '--dirty-rate', '16MiB'];
    const expected = await unpacedOracle(guest);
    const c = await startDest(['--once']);
    const b = startAgent(DEST_BIN, ['listen', '--port', '0', '--control-port', '0']);
    const bAddress = (await waitForLine(b, /^listening (\S+)$/))[1]!;
    const bControl = (await waitForLine(b, /^control (http:\/\/\S+)$/))[1]!;
    agents.push(b, c);
    const status = await api(`${bControl}/status`);
    expect(status.body).toMatchObject({ agent: 'dest', listening: bAddress, guest: null });
    expect(status.body.reservations.freeBytes).toBe(status.body.reservations.limitBytes);
    expect((await api(`${bControl}/guest`)).status).toBe(404);

    const a = runSource([...guest, '--migrate-to', bAddress, '--migrate-after', '300ms']);
    agents.push(a);
    expect((await a.done).code).toBe(0);
    const arrived = await until(() => api(`${bControl}/migrations`), (r) => r.body.incoming.length === 1 && r.body.incoming[0].status === 'completed');
    const incoming = arrived.body.incoming[0];
    expect((await api(`${bControl}/migrations/${incoming.id}`)).body).toMatchObject({ direction: 'in', status: 'completed', vcpus: 2 });
    const hosted = await api(`${bControl}/guest`);
    expect(hosted.status).toBe(200);
    expect(hosted.body.guestId).toBe(incoming.guestId);

    const onward = await api(`${bControl}/migrations`, 'POST', { target: c.address });
    expect(onward.status).toBe(201);
    const done = await until(() => api(`${bControl}/migrations/${onward.body.id}`), (r) => r.body.report !== null);
    expect(done.body.report.status).toBe('completed');
    expect(done.body.guestId).toBe(incoming.guestId);
    expect(finalDigestOf((await c.done).stdout)).toBe(expected);
    expect((await api(`${bControl}/guest`)).status).toBe(404);
    b.child.kill('SIGTERM');
    expect((await b.done).code).toBe(0);
  });
});
