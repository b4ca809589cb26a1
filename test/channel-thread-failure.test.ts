import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEST_BIN, SOURCE_BIN, finalDigestOf, oracleDigest, readJson, startAgent, tempDir, waitForLine } from './support/agents.js';

// A data-channel thread that fails in mid-round, in any way (LIVEMIG_TEST_FAIL_CHANNEL, a test-only hook read by
// the channel workers of both agents): the migration fails with a typed error naming the cause, never hangs,
// and the guest keeps running at the source with its memory intact (it reaches the oracle's digest).
const GUEST = ['--memory', '16MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '3', '--ops', '8000', '--dirty-rate', '8MiB'];

describe('a data-channel thread that fails mid-round fails the migration, never hangs it', () => {
  const dir = tempDir();
  let expected: string;
  beforeAll(async () => {
    expected = await oracleDigest(GUEST);
  });
  afterAll(() => dir.remove());

  /** Migrates GUEST once with `fault` set for both agents; returns both reports and the source's output. */
  async function migrateWithFault(fault: string) {
    const env = { LIVEMIG_TEST_FAIL_CHANNEL: fault };
    const name = fault.replaceAll(':', '-');
    const destReport = dir.file(`${name}-dest.json`);
    const sourceReport = dir.file(`${name}-source.json`);
    const dest = startAgent(DEST_BIN, ['listen', '--port', '0', '--once', '--report', destReport], env);
    const [, address] = await waitForLine(dest, /^listening (\S+)$/);
    const source = startAgent(SOURCE_BIN, ['run', ...GUEST, '--migrate-to', address!, '--migrate-after', '200ms', '--report', sourceReport], env);
    const [done, destDone] = await Promise.all([source.done, dest.done]);
    return { done, destDone, source: readJson(sourceReport), dest: readJson(destReport) };
  }

  it.each([
    ['throw', /^test fault \(LIVEMIG_TEST_FAIL_CHANNEL\): throw in round 1$/],
    ['write', /^channel \d thread failed: test fault \(LIVEMIG_TEST_FAIL_CHANNEL\): write in round 1$/],
    ['rejection', /^channel \d thread failed: test fault \(LIVEMIG_TEST_FAIL_CHANNEL\): rejection in round 1$/],
    ['exit', /^channel \d thread exited unexpectedly \(code 0\)$/],
  ])('source channel thread: %s', async (how, message) => {
    const { done, source } = await migrateWithFault(`source:${how}:1`);
    expect(done.code).toBe(1);
    expect(source.status).toBe('failed');
    expect(source.error.code).toBe('LM_ERR_INTERNAL');
    expect(source.error.message).toMatch(message);
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });

  // Round 0: the thread fails as it is assigned its channel. Accept names the destination's ports without
  // waiting for its threads to take their assignments, so that failure too must fail the migration, with the
  // source running; the source may then also find the dead thread's port closed (LM_ERR_CONNECT).
  it.each([
    ['uncaught', 1, /^channel \d thread failed: test fault \(LIVEMIG_TEST_FAIL_CHANNEL\): uncaught in round 1$/],
    ['exit', 1, /^channel \d thread exited unexpectedly \(code 0\)$/],
    ['uncaught', 0, /^channel \d thread failed: test fault \(LIVEMIG_TEST_FAIL_CHANNEL\): uncaught in round 0$/],
    ['exit', 0, /^channel \d thread exited unexpectedly \(code 0\)$/],
  ])('destination channel thread: %s in round %i', async (how, round, message) => {
    const { done, destDone, source, dest } = await migrateWithFault(`dest:${how}:${round}`);
    // The destination names its own cause; the source learns it from Abort, or sees the connection cut first.
    expect(destDone.code).toBe(1);
    expect(dest.status).toBe('failed');
    // In round 0 the source's channel may find the dead thread's port closed and abort (LM_ERR_CONNECT) before
    // this side has seen its thread end; else this side names its own cause.
    if (round !== 0 || dest.error.code !== 'LM_ERR_CONNECT') {
      expect(dest.error.code).toBe('LM_ERR_INTERNAL');
      expect(dest.error.message).toMatch(message);
    }
    expect(done.code).toBe(1);
    expect(source.status).toBe('failed');
    expect(source.error.code).toMatch(round === 0 ? /^LM_ERR_(PEER_ABORT|PEER_CLOSED|CONNECT)$/ : /^LM_ERR_(PEER_ABORT|PEER_CLOSED)$/);
    expect(finalDigestOf(done.stdout)).toBe(expected);
  });
});
