import { afterAll, describe, expect, it } from 'vitest';
import { DEST_BIN, finalDigestOf, oracleDigest, readJson, runSource, startAgent, startDest, tempDir, waitForLine } from './support/agents.js';

// The data path's choices change how pages travel and where they land, never what arrives: each one under
// the deterministic oracle (the final digest after a migration in mid-run equals the run's without it).
describe('data path: the deterministic oracle holds', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '11', '--ops', '6000', '--dirty-rate', '24MiB'];

  it('into guest memory the destination faulted in before listening (--prefault)', async () => {
    const expected = await oracleDigest(guestArgs);
    const destReport = dir.file('prefault-dest.json');
    const dest = await startDest(['--once', '--prefault', '64MiB', '--report', destReport]);
    const source = runSource([...guestArgs, '--migrate-to', dest.address, '--migrate-after', '400ms']);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    expect(readJson(destReport).finalDigest).toBe(expected);
  });

  // A plain-TCP destination reads its data channels into its frame decoders' own buffers, and runs of raw pages
  // straight into guest memory; the earlier paths (LIVEMIG_DEST_READS=frames: no raw pages into guest memory;
  // =chunks) are kept for the bench. All under the oracle, with every encoding the default sends.
  const readPaths = { owned: 'its own buffers and guest memory', frames: 'its own buffers only', chunks: "'data' chunks" };
  for (const reads of ['owned', 'frames', 'chunks'] as const) {
    it(`a destination reading its data channels through ${readPaths[reads]}`, async () => {
      const expected = await oracleDigest(guestArgs);
      const dest = startAgent(DEST_BIN, ['listen', '--port', '0', '--once'], { LIVEMIG_DEST_READS: reads });
      const [, host, port] = await waitForLine(dest, /^listening (\S+):(\d+)$/);
      const source = runSource([...guestArgs, '--migrate-to', `${host}:${port}`, '--migrate-after', '400ms']);
      const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(destDone.code, destDone.stderr).toBe(0);
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
    });
  }

  for (const mode of ['auto', 'none', 'lz4', 'zstd'] as const) {
    it(`--compress ${mode}`, async () => {
      const expected = await oracleDigest(guestArgs);
      const sourceReport = dir.file(`compress-${mode}-source.json`);
      const dest = await startDest(['--once']);
      const source = runSource([...guestArgs, '--compress', mode, '--migrate-to', dest.address, '--migrate-after', '400ms', '--report', sourceReport]);
      const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(destDone.code, destDone.stderr).toBe(0);
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
      const report = readJson(sourceReport);
      const batches = { none: 0, lz4: 0, zstd: 0 };
      for (const round of report.rounds) for (const c of ['none', 'lz4', 'zstd'] as const) batches[c] += round.batches[c];
      expect(batches.none + batches.lz4 + batches.zstd).toBeGreaterThan(0);
      if (mode === 'auto') {
        // Each compression is tried once at the start on every channel.
        expect(Math.min(batches.none, batches.lz4, batches.zstd)).toBeGreaterThan(0);
      } else {
        expect(batches[mode]).toBe(batches.none + batches.lz4 + batches.zstd);
        if (mode !== 'lz4') expect(report.pagesSent.lz4).toBe(0);
        if (mode !== 'zstd') expect(report.pagesSent.zstd).toBe(0);
        if (mode !== 'none') expect(report.pagesSent[mode]).toBeGreaterThan(0);
      }
    });
  }

  // On loopback a send that waits for the socket waits for the destination's cores, never a link; the rate limit
  // is a link of its own, and a low one makes `auto` climb zstd levels as a slow link would. One channel, so that
  // its few batches a round (this guest's pages go in about ten) reach past trying each way once; a limit far
  // below what the channel encodes even on a loaded host (there a batch of this guest's pages took up to 0.4 s
  // to lz4, 140 KB: 1 MB/s was no bottleneck), so that the limit is what holds the batches back.
  it('--compress auto under --max-bandwidth to a destination on loopback: zstd levels above 1 are used', async () => {
    const expected = await oracleDigest(guestArgs);
    const sourceReport = dir.file('compress-auto-limited-source.json');
    const dest = await startDest(['--once']);
    const source = runSource([...guestArgs, '--compress', 'auto', '--max-bandwidth', '250KB/s', '--streams', '1', '--migrate-to', dest.address, '--migrate-after', '400ms', '--report', sourceReport]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    expect(destDone.code, destDone.stderr).toBe(0);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    const rounds: { batches: Record<string, number> }[] = readJson(sourceReport).rounds;
    const above1 = rounds.reduce((n, r) => n + r.batches.zstd3! + r.batches.zstd6! + r.batches.zstd9!, 0);
    expect(above1).toBeGreaterThan(0);
  });
});
