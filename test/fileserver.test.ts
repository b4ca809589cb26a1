import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir, waitForLine } from './support/agents.js';
import { waitForValue } from './support/wait.js';
import { ChannelCorruptor } from './support/channel-corruptor.js';

// The oracle for a guest with a disk and a page cache: the final digest covers what the guest observes
// (registers, accumulators, anonymous buffers, the disk as the guest sees it; see kernel-digest.ts) and
// checks every block's write-back generation on the disk against the kernel's record, so a write-back lost
// or landing twice across the migration fails it. Both agents open the same disk path (shared storage).
// 36000 ops per vCPU at the pace of --dirty-rate: about 12 s, so the guest outlives its migration even on a
// loaded host (with 12000 it often finished first at load 20-30, and then the interrupt found nobody to answer).
const OPS = 36000;
const guestArgs = (disk: string): string[] => [
  '--memory', '64MiB', '--vcpus', '2', '--workload', 'fileserver', '--seed', '21', '--ops', String(OPS),
  '--dirty-rate', '24MiB', '--disk-bytes', '16MiB', '--cache-bytes', '8MiB', '--anon-bytes', '8MiB', '--disk', disk,
];

/**
 * The oracle's run of `args` unpaced: pacing changes when ops run, never what they write (the hints, which
 * are timed, are outside the digest: kernel-digest.ts), so the oracle need not take the guest's 12 s.
 */
function unpacedOracle(args: string[]): Promise<string> {
  const unpaced = [...args];
  unpaced[unpaced.indexOf('--dirty-rate') + 1] = '0';
  return oracleDigest(unpaced);
}

describe('fileserver: a guest with a disk and a page cache migrates', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  /**
   * The oracle's digest of `guest` on a fresh disk, then one migration of it in mid-run (source flags
   * `flags`) to a destination on the same disk path: the oracle, the source's report and the destination's digest.
   * With `counted`, the migration passes through a proxy that counts its data channels' batch forms (`batches`).
   */
  async function migrateOnce(
    name: string,
    guest: (disk: string) => string[],
    flags: string[],
    counted = false,
  ): Promise<{ expected: string; report: Record<string, any>; digest: string | undefined; batches?: { direct: number; plain: number } }> {
    const expected = await unpacedOracle(guest(dir.file(`oracle-${name}.disk`)));
    const disk = dir.file(`${name}.disk`);
    const dest = await startDest(['--once', '--disk', disk]);
    const proxy = counted ? await ChannelCorruptor.start(dest.port, 'none') : undefined;
    const target = proxy?.address ?? dest.address;
    const source = runSource([...guest(disk), ...flags, '--migrate-to', target, '--migrate-after', '600ms', '--report', dir.file(`${name}.json`)]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    await proxy?.close();
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    const report = readJson(dir.file(`${name}.json`));
    expect(report.status).toBe('completed');
    expect(report.guestOpsAtStart).toBeGreaterThan(0);
    expect(report.guestOpsAtPark).toBeLessThan(2 * OPS);
    const batches = proxy && { direct: proxy.directBatches, plain: proxy.plainBatches };
    return { expected, report, digest: finalDigestOf(destDone.stdout), batches };
  }

  it('--soft-pages or --balloon on a guest without a kernel is a wrong flag (exit 2, LM_ERR_BAD_ARGUMENT)', async () => {
    const done = await runSource(['--memory', '16MiB', '--workload', 'hotcold', '--ops', '10', '--balloon']).done;
    expect(done.code).toBe(2);
    expect(done.stderr).toMatch(/--soft-pages, --balloon: the hotcold workload has no guest kernel/);
  });

  it('plain pre-copy in mid-run: the oracle digest, disk write-backs checked', async () => {
    const { expected, report, digest } = await migrateOnce('plain', guestArgs, []);
    expect(report.softPages).toBeUndefined();
    expect(digest).toBe(expected);
  });

  it('A -> B -> A: the oracle digest', async () => {
    const expected = await unpacedOracle(guestArgs(dir.file('oracle-aba.disk')));
    const disk = dir.file('shared-aba.disk');
    const backAtA = await startDest(['--once', '--disk', disk]);
    const atB = await startDest(['--once', '--disk', disk, '--migrate-to', backAtA.address, '--migrate-after', '300ms', '--report', dir.file('b.json')]);
    const source = runSource([...guestArgs(disk), '--migrate-to', atB.address, '--migrate-after', '500ms']);
    const [sourceDone, bDone, aDone] = await Promise.all([source.done, atB.done, backAtA.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(bDone.code, bDone.stderr).toBe(0);
    expect(readJson(dir.file('b.json')).onward.status).toBe('completed');
    expect(finalDigestOf(aDone.stdout)).toBe(expected);
  });

  it('a destination without the disk refuses the guest at the handshake; the guest finishes at the source', async () => {
    const expected = await unpacedOracle(guestArgs(dir.file('oracle-nodisk.disk')));
    const dest = await startDest(['--once']);
    const source = runSource([...guestArgs(dir.file('nodisk.disk')), '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', dir.file('nodisk.json')]);
    const [sourceDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code).toBe(1);
    expect(sourceDone.stderr).toMatch(/guest disk: .*--disk FILE/);
    expect(readJson(dir.file('nodisk.json')).error.code).toBe('LM_ERR_REFUSED');
    expect(finalDigestOf(sourceDone.stdout)).toBe(expected);
  });

  it('--soft-pages: pages the guest calls soft are skipped, the cache is dropped, and the oracle digest holds', async () => {
    const { expected, report, digest } = await migrateOnce('soft', guestArgs, ['--soft-pages']);
    expect(report.softPages.pagesSkippedSoft).toBeGreaterThan(0);
    expect(report.softPages.pagesNeverSent).toBeGreaterThan(0);
    expect(report.softPages.vcpusAcknowledged).toBe(2);
    expect(report.softPages.interruptMs).toBeGreaterThanOrEqual(0);
    expect(report.softPages.roundHintAgeMs).toHaveLength(report.rounds.length);
    expect(report.softPages.hintsRejected).toBe(0);
    expect(digest).toBe(expected);
  });

  it('--balloon: free pages given back are never read nor sent, and the oracle digest holds', async () => {
    const { expected, report, digest } = await migrateOnce('balloon', guestArgs, ['--balloon']);
    expect(report.balloon.inflateMs).toBeGreaterThanOrEqual(0);
    expect(report.balloon.pagesBallooned).toBeGreaterThan(0);
    expect(report.balloon.areasRejected).toBe(0);
    expect(digest).toBe(expected);
  });

  // Raw pages go direct (--compress none: every page not one repeated byte is Raw) while the guest writes: a
  // page torn under its send is sent again, the filters never skip it (DirectSends), and the tables agree.
  it('--soft-pages with --balloon, raw pages sent direct from live memory: the oracle digest', async () => {
    const { expected, report, digest, batches } = await migrateOnce('soft-balloon', guestArgs, ['--soft-pages', '--balloon', '--compress', 'none'], true);
    expect(batches!.direct).toBeGreaterThan(0);
    expect(report.softPages.vcpusAcknowledged).toBe(2);
    expect(report.softPages.pagesSkippedSoft).toBeGreaterThan(0);
    expect(report.balloon.pagesBallooned).toBeGreaterThan(0);
    expect(report.balloon.pagesSkippedBallooned).toBeGreaterThan(0);
    expect(digest).toBe(expected);
  });

  it('POST /migrations with softPages and balloon: the report says what was skipped, and the oracle digest holds', async () => {
    const expected = await unpacedOracle(guestArgs(dir.file('oracle-api.disk')));
    const disk = dir.file('api.disk');
    const dest = await startDest(['--once', '--disk', disk]);
    const source = runSource([...guestArgs(disk), '--control-port', '0']);
    const [, url] = await waitForLine(source, /^control (http:\/\/\S+)$/);
    // Past the warm-up (1024 cache reads and 64 buffers per vCPU at 3072 ops/s), well before the end.
    await waitForValue(async () => ((await (await fetch(`${url}/guest`)).json()) as { opsDone: number }).opsDone, (ops) => ops > 2 * 1500);
    const started = await fetch(`${url}/migrations`, {
      method: 'POST',
      body: JSON.stringify({ target: dest.address, softPages: true, balloon: true }),
      headers: { 'content-type': 'application/json' },
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    const { report } = await waitForValue(
      async () => (await (await fetch(`${url}/migrations/${id}`)).json()) as { report: Record<string, any> | null },
      (view) => view.report !== null,
      { intervalMs: 100, what: 'the migration report' },
    );
    expect(report!.status).toBe('completed');
    expect(report!.softPages.vcpusAcknowledged).toBe(2);
    expect(report!.softPages.pagesSkippedSoft).toBeGreaterThan(0);
    expect(report!.balloon.inflateMs).toBeGreaterThanOrEqual(0);
    expect(finalDigestOf((await dest.done).stdout)).toBe(expected);
    source.child.kill('SIGTERM');
    await source.done;
  });

  it('--soft-pages --balloon A -> B -> A: the oracle digest', async () => {
    const expected = await unpacedOracle(guestArgs(dir.file('oracle-soft-aba.disk')));
    const disk = dir.file('soft-aba.disk');
    const backAtA = await startDest(['--once', '--disk', disk]);
    const atB = await startDest(['--once', '--disk', disk, '--soft-pages', '--balloon', '--migrate-to', backAtA.address, '--migrate-after', '300ms', '--report', dir.file('soft-b.json')]);
    const source = runSource([...guestArgs(disk), '--soft-pages', '--balloon', '--migrate-to', atB.address, '--migrate-after', '500ms']);
    const [sourceDone, bDone, aDone] = await Promise.all([source.done, atB.done, backAtA.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(bDone.code, bDone.stderr).toBe(0);
    const onward = readJson(dir.file('soft-b.json')).onward;
    expect(onward.status).toBe('completed');
    expect(onward.softPages.pagesSkippedSoft).toBeGreaterThan(0);
    expect(onward.balloon.pagesBallooned).toBeGreaterThan(0);
    expect(finalDigestOf(aDone.stdout)).toBe(expected);
  });

  it('a guest that never answers the interrupt still migrates correctly: its soft pages are sent after all', async () => {
    const silent = (disk: string): string[] => [...guestArgs(disk), '--guest-kernel', 'silent'];
    const { expected, report, digest } = await migrateOnce('silent', silent, ['--soft-pages', '--interrupt-timeout', '200ms']);
    expect(report.softPages.interruptMs).toBeNull();
    expect(report.softPages.vcpusAcknowledged).toBe(0);
    expect(report.softPages.pagesNeverSent).toBe(0);
    expect(digest).toBe(expected);
  });

  it('a lying guest (anonymous pages called soft) gets a corrupt image of its own; the agents work on and count the pages', async () => {
    const liar = (disk: string): string[] => [...guestArgs(disk), '--guest-kernel', 'liar'];
    const expected = await unpacedOracle(liar(dir.file('oracle-liar.disk')));
    const disk = dir.file('liar.disk');
    const dest = await startDest(['--disk', disk]);
    const source = runSource([...liar(disk), '--soft-pages', '--migrate-to', dest.address, '--migrate-after', '600ms', '--report', dir.file('liar.json')]);
    const sourceDone = await source.done;
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    const report = readJson(dir.file('liar.json'));
    expect(report.status).toBe('completed');
    expect(report.softPages.pagesNeverSent).toBeGreaterThan(0);
    // The liar finishes at the destination with a digest of its own making, not the oracle's.
    const [, liarDigest] = (await waitForLine(dest, /^final digest (\w+)/, 120_000)) as unknown as [string, string];
    expect(liarDigest).not.toBe(expected);
    // The destination agent takes an honest guest afterwards (a fresh disk at the same path), which reaches its oracle digest.
    rmSync(disk);
    const honestExpected = await unpacedOracle(guestArgs(dir.file('oracle-after-liar.disk')));
    const honest = runSource([...guestArgs(disk), '--soft-pages', '--migrate-to', dest.address, '--migrate-after', '600ms']);
    expect((await honest.done).code).toBe(0);
    const [, honestDigest] = (await waitForLine(dest, new RegExp(`^final digest (?!${liarDigest})(\\w+)`), 120_000)) as unknown as [string, string];
    expect(honestDigest).toBe(honestExpected);
    dest.child.kill('SIGTERM');
    await dest.done;
  });
});
