import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { encodePostcopyResume } from '@livemig/protocol';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  DEST_BIN,
  SOURCE_BIN,
  finalDigestOf,
  oracleDigest,
  readJson,
  runSource,
  startAgent,
  startDest,
  tempDir,
  waitForLine,
  waitForLog,
  type Agent,
  type Finished,
} from './support/agents.js';
import { FrameProxy } from './support/frame-proxy.js';
import { makeTestCredentials, randomPsk } from './support/tls-credentials.js';
import { waitForValue } from './support/wait.js';

// QEMU's post-copy recovery test, with real agents over real TCP: the push is slowed (--max-postcopy-bandwidth)
// so post-copy still runs when connections are cut after the switch; both sides must report postcopy-paused,
// recover on a new port, complete, and the final digest must equal the oracle's. The control connection goes
// through a FrameProxy; the urgent connection and the data channels go to the destination's own ports (Accept
// names them), so they are cut from outside the agents with `ss -K` (socket destroy), which needs root.

const GUEST = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '11', '--ops', '6000', '--dirty-rate', '24MiB'];
const SLOW_PUSH = ['--mode', 'postcopy', '--prepaging', 'linear', '--max-postcopy-bandwidth', '1MB/s', '--migrate-after', '400ms'];
const canKillSockets = process.getuid?.() === 0 && hasSs();

function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Destroys the established TCP connections accepted on `ports` (both ends, on loopback). Each is named by its
 * exact pair of ports, so that no other connection that happens to use one of these numbers is touched.
 */
function killSockets(ports: number[]): void {
  const filter = ports.map((port) => `sport = :${port}`).join(' or ');
  const listing = execFileSync('ss', ['-Htn', 'state', 'established', `( ${filter} )`], { encoding: 'utf8' });
  const pairs = [...listing.matchAll(/127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)/g)].map((m) => [m[1]!, m[2]!] as const);
  if (pairs.length === 0) throw new Error(`no established connection on ports ${ports.join(', ')}`);
  const exact = pairs.map(([local, peer]) => `( sport = :${local} and dport = :${peer} ) or ( sport = :${peer} and dport = :${local} )`).join(' or ');
  execFileSync('ss', ['-K', '-t', 'state', 'established', `( ${exact} )`], { stdio: 'ignore' });
}

interface Pair {
  dest: Agent & { address: string };
  source: Agent;
  proxy: FrameProxy;
  destUrl: string;
  sourceUrl: string | undefined;
  sourceReport: string;
  destReport: string;
  ports: { urgent: number; channels: number[] };
}

async function getJson(url: string): Promise<any> {
  return (await fetch(url)).json();
}

/** Runs an agent's CLI subcommand (`source-agent resume ...`, `dest-agent recover ...`) to its end. */
function cli(bin: string, args: string[]): Promise<Finished> {
  return startAgent(bin, args).done;
}

async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
}

describe.skipIf(!canKillSockets)('post-copy recovery', () => {
  const dir = tempDir();
  const started: Agent[] = [];
  const proxies: FrameProxy[] = [];
  let expected: string;
  afterEach(async () => {
    for (const agent of started.splice(0)) if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  afterAll(() => dir.remove());

  async function oracle(): Promise<string> {
    expected ??= await oracleDigest(GUEST);
    return expected;
  }

  /** A destination with a control API, a proxy in front of it, and a source migrating through the proxy, switched. */
  async function switched(name: string, sourceExtra: string[] = ['--control-port', '0'], destExtra: string[] = []): Promise<Pair> {
    const destReport = dir.file(`${name}-dest.json`);
    const sourceReport = dir.file(`${name}-source.json`);
    const dest = await startDest(['--once', '--control-port', '0', '--report', destReport, ...destExtra]);
    started.push(dest);
    const destUrl = (await waitForLine(dest, /^control (http:\/\/\S+)$/))[1]!;
    const proxy = await FrameProxy.start({ port: dest.port });
    proxies.push(proxy);
    const source = runSource([...GUEST, ...SLOW_PUSH, '--migrate-to', proxy.address, '--report', sourceReport, ...sourceExtra]);
    started.push(source);
    const sourceUrl = sourceExtra.includes('--control-port') ? (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]! : undefined;
    // Over TLS the proxy sees only bytes: no ports then (those tests cut the control connection alone).
    const tls = destExtra.length > 0;
    const accept = tls ? undefined : await proxy.waitFor('Accept', { direction: 'toClient' });
    const message = (accept?.frame as { message: { urgentPort: number; channelPorts: number[] } } | undefined)?.message ?? { urgentPort: 0, channelPorts: [] };
    await waitForLog(source, { msg: 'switched to post-copy: the guest runs at the destination' });
    // Cut only once the destination has read PostcopyRun too: a cut before that is one before its commit point
    // (it aborts; see PROTOCOL.md, "Post-copy recovery").
    await waitForLog(dest, { msg: 'switched to post-copy: the guest runs here, pages still arriving' });
    return { dest, source, proxy, destUrl, sourceUrl, sourceReport, destReport, ports: { urgent: message.urgentPort, channels: message.channelPorts } };
  }

  async function outgoingId(pair: Pair): Promise<string> {
    const body = await getJson(`${pair.sourceUrl}/migrations`);
    return body.outgoing[0].id as string;
  }

  /** Both sides report their `pauses`-th pause: the source's API (or log, without one), the destination's API. */
  async function bothPaused(pair: Pair, pauses: number): Promise<{ outId: string | undefined; inId: string }> {
    const incoming = await waitForValue(
      async () => (await getJson(`${pair.destUrl}/migrations`)).incoming[0] as { id: string; status: string; postcopyPauses?: number },
      (entry) => entry?.status === 'postcopy-paused' && entry.postcopyPauses === pauses,
      { intervalMs: 50, what: `the destination to report postcopy-paused (pause ${pauses})` },
    );
    if (!pair.sourceUrl) {
      await waitForLog(pair.source, { msg: /^post-copy paused/ });
      return { outId: undefined, inId: incoming.id };
    }
    const outId = await outgoingId(pair);
    await waitForValue(
      async () => getJson(`${pair.sourceUrl}/migrations/${outId}`),
      (body) => body.phase === 'postcopy-paused' && body.postcopy?.pauses === pauses,
      { intervalMs: 50, what: `the source to report postcopy-paused (pause ${pauses})` },
    );
    return { outId, inId: incoming.id };
  }

  /** QEMU's migrate-recover at the destination, behind a fresh proxy, then migrate -r at the source. */
  async function recover(pair: Pair, ids: { outId: string | undefined; inId: string }): Promise<FrameProxy> {
    const answer = await post(`${pair.destUrl}/migrations/${ids.inId}/recover`);
    expect(answer.status).toBe(200);
    const { port } = (await answer.json()) as { port: number };
    const proxy = await FrameProxy.start({ port });
    proxies.push(proxy);
    const resumed = await post(`${pair.sourceUrl}/migrations/${ids.outId}/resume`, { target: proxy.address });
    expect(resumed.status).toBe(202);
    return proxy;
  }

  /** The source's report, once it has written it (when its guest left it). */
  function sourceReport(pair: Pair): Promise<Record<string, any> | undefined> {
    const read = (): Record<string, any> | undefined => {
      try {
        return readJson(pair.sourceReport);
      } catch {
        return undefined;
      }
    };
    return waitForValue(read, (value) => value !== undefined, { intervalMs: 100, what: "the source's report" });
  }

  /** Both ends completed: the source's report, the destination's final digest equal to the oracle's. */
  async function completes(pair: Pair): Promise<Record<string, any>> {
    await waitForLog(pair.dest, { msg: 'post-copy complete: every page is here' }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nthe source's last lines:\n${pair.source.lines.slice(-30).join('\n')}`);
    });
    const destDone = await pair.dest.done;
    expect(destDone.code).toBe(0);
    expect(finalDigestOf(destDone.stdout)).toBe(await oracle());
    const report = await sourceReport(pair);
    expect(report!.status).toBe('completed');
    const received = readJson(pair.destReport);
    expect(received.postcopy.pauses).toBeGreaterThanOrEqual(1);
    expect(received.postcopy.recoveries).toBe(received.postcopy.pauses);
    return report!;
  }

  const CUTS: Array<[string, (pair: Pair) => void]> = [
    ['every connection', (pair) => {
      pair.proxy.cutAll('reset');
      killSockets([pair.ports.urgent, ...pair.ports.channels]);
    }],
    ['the urgent connection alone', (pair) => killSockets([pair.ports.urgent])],
    ['the data channels (bulk) alone', (pair) => killSockets(pair.ports.channels)],
  ];

  for (const [what, cut] of CUTS) {
    it(`${what} cut during the push: both pause, recover on a new port, complete; the oracle holds`, async () => {
      const pair = await switched(what.replace(/\W+/g, '-'));
      cut(pair);
      const ids = await bothPaused(pair, 1);
      await recover(pair, ids);
      const report = await completes(pair);
      expect(report.postcopy.pauses).toBe(1);
      expect(report.postcopy.recoveries).toBe(1);
      // Parked at the switch, never resumed here through the pause.
      expect(report.opsDone).toBe(report.guestOpsAtPark);
      pair.source.child.kill('SIGTERM');
    });
  }

  it('a double failure: the first recovery is cut as well, the second succeeds', async () => {
    const pair = await switched('double');
    killSockets([pair.ports.urgent]);
    const first = await bothPaused(pair, 1);
    const proxy = await recover(pair, first);
    // The present map reaches the source, then the recovered connections die.
    await proxy.waitFor('PostcopyReceived', { direction: 'toClient' });
    proxy.cutAll('reset');
    const second = await bothPaused(pair, 2);
    await recover(pair, second);
    const report = await completes(pair);
    expect(report.postcopy.pauses).toBe(2);
    expect(report.postcopy.recoveries).toBe(2);
    pair.source.child.kill('SIGTERM');
  });

  it('cancel is refused after the switch and while paused (409); discard drops the parked copy', async () => {
    const pair = await switched('discard');
    const outId = await outgoingId(pair);
    const running = await fetch(`${pair.sourceUrl}/migrations/${outId}`, { method: 'DELETE' });
    expect(running.status).toBe(409);
    expect(((await running.json()) as { error: { code: string } }).error.code).toBe('LM_ERR_CONFLICT');
    const early = await post(`${pair.sourceUrl}/migrations/${outId}/discard`);
    expect(early.status).toBe(409);
    // The destination's post-copy figures are live while it runs (and pauses): its API and /metrics.
    const live = await waitForValue(
      async () => (await getJson(`${pair.destUrl}/migrations`)).incoming[0],
      (entry) => entry?.postcopy?.missingAtSwitch > 0,
      { intervalMs: 50, what: "the destination's live post-copy figures" },
    );
    expect(live.status).toBe('receiving');
    expect(live.postcopy.latencyBuckets).toHaveLength(24);
    expect(await (await fetch(`${pair.destUrl}/metrics`)).text()).toMatch(/^livemig_dest_incoming_postcopy_faults\{.*kind="faults".*\} \d+$/m);
    killSockets([pair.ports.urgent]);
    await bothPaused(pair, 1);
    const paused = await fetch(`${pair.sourceUrl}/migrations/${outId}`, { method: 'DELETE' });
    expect(paused.status).toBe(409);
    expect(await paused.text()).toMatch(/postcopy-paused.*never resumed here/);
    // The operator's CLI (source-agent discard) asks the control API, and prints its answer.
    const discarded = await cli(SOURCE_BIN, ['discard', '--control', pair.sourceUrl!, '--id', outId]);
    expect(discarded.code, discarded.stderr).toBe(0);
    const body = JSON.parse(discarded.stdout) as { report: Record<string, any> };
    expect(body.report.status).toBe('failed');
    expect(body.report.error.code).toBe('LM_ERR_POSTCOPY_FAILED');
    const report = (await sourceReport(pair))!;
    expect(report.opsDone).toBe(report.guestOpsAtPark);
    expect(finalDigestOf(pair.source.lines.join('\n'))).toBeUndefined();
    pair.source.child.kill('SIGTERM');
  });

  it('the CLIs: dest-agent recover opens the port, source-agent resume reconnects there; refused ones exit 1 with the code', async () => {
    const pair = await switched('cli');
    killSockets([pair.ports.urgent]);
    const ids = await bothPaused(pair, 1);
    const outId = ids.outId!;
    const unknown = await cli(DEST_BIN, ['recover', '--control', pair.destUrl, '--id', 'no-such-migration']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not in post-copy here: nothing to recover.*LM_ERR_CONFLICT/);
    const opened = await cli(DEST_BIN, ['recover', '--control', pair.destUrl, '--id', ids.inId]);
    expect(opened.code, opened.stderr).toBe(0);
    const [address, host, port] = /^recovery ((\S+):(\d+))$/m.exec(opened.stdout)!.slice(1);
    expect(JSON.parse(opened.stdout.slice(opened.stdout.indexOf('\n') + 1))).toEqual({ id: ids.inId, host, port: Number(port) });
    const resumed = await cli(SOURCE_BIN, ['resume', '--control', pair.sourceUrl!, '--id', outId, '--target', address!]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id: outId, resuming: { host, port: Number(port) } });
    const report = await completes(pair);
    expect(report.postcopy.recoveries).toBe(1);
    // Nothing paused any more: refused by the agent, one line with the code, status 1 (as for an id not in post-copy).
    const late = await cli(SOURCE_BIN, ['resume', '--control', pair.sourceUrl!, '--id', outId]);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/only a paused post-copy can be resumed.*LM_ERR_CONFLICT/);
    pair.source.child.kill('SIGTERM');
  });

  it('--postcopy-retries: the source reconnects by itself to the destination it migrated to', async () => {
    const pair = await switched('retries', ['--postcopy-retries', '5']);
    killSockets(pair.ports.channels);
    await waitForLog(pair.source, { msg: /^post-copy recovered/ });
    const report = await completes(pair);
    expect(report.postcopy.recoveries).toBe(1);
    const sourceDone = await pair.source.done;
    expect(sourceDone.code).toBe(0);
  });

  it('PostcopyRun lost on its way: the destination aborts before its commit point, and says so; the guest resumes at the source', async () => {
    // Not --once: the destination must still answer when the source comes back.
    const dest = await startDest([]);
    started.push(dest);
    const proxy = await FrameProxy.start({ port: dest.port }, [{ direction: 'toTarget', frame: 'PostcopyRun', action: { kind: 'cut', how: 'reset', before: true } }]);
    proxies.push(proxy);
    const sourceReport = dir.file('lost-run-source.json');
    const source = runSource([...GUEST, ...SLOW_PUSH, '--migrate-to', proxy.address, '--report', sourceReport, '--postcopy-retries', '6']);
    started.push(source);
    const done = await source.done;
    const report = readJson(sourceReport);
    expect(report.status).toBe('failed');
    expect(report.error.code).toBe('LM_ERR_OUTCOME_DECIDED');
    expect(report.postcopy.pauses).toBe(1);
    // The guest ran on at the source and finished there: the oracle holds without a migration.
    expect(done.code).toBe(1);
    expect(finalDigestOf(done.stdout)).toBe(await oracle());
  });

  it('over TLS (PSK): the control connection alone cut; a plaintext stranger at the recovery port is dropped; the source recovers', async () => {
    const creds = makeTestCredentials();
    try {
      const pskFile = creds.pskFile('keys.psk', { source: randomPsk() });
      const tls = ['--tls-psk-file', pskFile];
      const pair = await switched('tls', ['--control-port', '0', ...tls, '--tls-identity', 'source'], tls);
      pair.proxy.cutAll('reset');
      const ids = await bothPaused(pair, 1);
      const answer = await post(`${pair.destUrl}/migrations/${ids.inId}/recover`);
      const { port } = (await answer.json()) as { port: number };
      // A peer without the credentials gets no further than the TLS handshake: closed before a frame is read.
      const stranger = connect(port, '127.0.0.1');
      await once(stranger, 'connect');
      stranger.write(encodePostcopyResume({ migrationId: ids.outId!, reservationId: 'guessed' }));
      await once(stranger, 'close');
      expect((await getJson(`${pair.destUrl}/migrations`)).incoming[0].status).toBe('postcopy-paused');
      const resumed = await post(`${pair.sourceUrl}/migrations/${ids.outId}/resume`, { port });
      expect(resumed.status).toBe(202);
      const report = await completes(pair);
      expect(report.postcopy.recoveries).toBe(1);
      pair.source.child.kill('SIGTERM');
    } finally {
      creds.remove();
    }
  });
});
