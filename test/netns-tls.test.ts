import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEST_BIN, SOURCE_BIN, finalDigestOf, oracleDigest, readJson, startAgent, tempDir, waitForLine, type Agent } from './support/agents.js';
import { NETNS, canMakeNetns, inNetns, makeNetns, removeNetns } from './support/netns.js';
import { makeTestCredentials, randomPsk, type TestCredentials } from './support/tls-credentials.js';

// Two hosts for real: the source in one network namespace, the destination in another, over a veth pair, every
// connection TLS with a pre-shared key. Needs root (CI runs as root); skipped otherwise.
const [hostA, hostB] = NETNS;

describe.skipIf(!canMakeNetns())('two network namespaces over a veth pair, with TLS', () => {
  let creds: TestCredentials;
  let psk: string;
  const dir = tempDir();
  const agents: Agent[] = [];
  beforeAll(() => {
    makeNetns();
    creds = makeTestCredentials();
    psk = creds.pskFile('keys.psk', { source: randomPsk() });
  });
  afterAll(() => {
    for (const agent of agents) agent.child.kill('SIGKILL');
    removeNetns();
    creds.remove();
    dir.remove();
  });

  /** dest-agent listen on host B's address, in its namespace; resolves with its address once listening. */
  async function destOnB(args: string[]): Promise<Agent & { address: string }> {
    const agent = startAgent(DEST_BIN, ['listen', '--host', hostB.address, '--port', '0', ...args], {}, inNetns(hostB.name));
    agents.push(agent);
    const match = await waitForLine(agent, /^listening (\S+):(\d+)$/);
    return Object.assign(agent, { address: `${match[1]}:${match[2]}` });
  }

  function sourceOnA(args: string[]): Agent {
    const agent = startAgent(SOURCE_BIN, ['run', ...args], {}, inNetns(hostA.name));
    agents.push(agent);
    return agent;
  }

  it('a destination on a non-loopback address refuses to start without credentials', async () => {
    const agent = startAgent(DEST_BIN, ['listen', '--host', hostB.address, '--port', '0'], {}, inNetns(hostB.name));
    const done = await agent.done;
    expect(done.code).toBe(2);
    expect(done.stderr).toMatch(/^dest-agent: listening on 10\.202\.0\.2 without TLS: .*--insecure\)$/m);
  });

  it('the oracle holds from host A to host B over TLS', async () => {
    const guest = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'hotcold', '--seed', '4', '--ops', '12000', '--dirty-rate', '48MiB', '--hot-bytes', '2MiB'];
    const expected = await oracleDigest(guest);
    const dest = await destOnB(['--once', '--tls-psk-file', psk]);
    const report = dir.file('netns-source.json');
    const source = sourceOnA([...guest, '--streams', '2', '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', report, '--tls-psk-file', psk, '--tls-identity', 'source']);
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    expect(done.code, done.stderr).toBe(0);
    expect(readJson(report)).toMatchObject({ status: 'completed', target: dest.address });
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
  });

  it("the compose demo's migration, between the namespaces", async () => {
    // docker-compose.yml's commands, with the guest made smaller for a shared test host.
    const dest = await destOnB(['--once', '--run-for', '1s', '--tls-psk-file', psk]);
    const source = sourceOnA(['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--migrate-to', dest.address, '--migrate-after', '1s', '--tls-psk-file', psk, '--tls-identity', 'source']);
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    expect(done.code, done.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
  });
});
