import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { finalDigestOf, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';
import { ChannelCorruptor, type FlipAt } from './support/channel-corruptor.js';
import { withMigratedImage, type MigratedImage } from './support/image-migration.js';

// PageBatchDirect (direct-pages-v2): Raw pages go from guest memory to the socket, outside the frame CRC. Every
// migration here passes through a proxy that carries the data channels too and can flip one byte of the first
// direct batch: in a raw page (caught at commit by the per-page table and repaired: exactly that page is sent
// again), in the batch's entry count or in an entry (caught by the frame CRC on the data channel: the migration
// fails with LM_ERR_CRC_MISMATCH and the guest never runs at the destination).
describe('direct pages', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  // 4 MiB: random pages (Raw), text pages (lz4) and one-byte pages.
  const image = Buffer.alloc(4 * 1024 * 1024);
  randomBytes(3 * 1024 * 1024).copy(image, 0);
  image.write('the quick brown fox jumps over the lazy dog '.repeat(20_000), 3 * 1024 * 1024);
  image.fill(0x5a, image.length - 8192);
  const imagePath = dir.file('guest.img');
  writeFileSync(imagePath, image);

  /** The paused image migrated into an in-process destination through a proxy flipping `flip`, then `check`. */
  const migrateImage = (name: string, flip: FlipAt, check: (migrated: MigratedImage<ChannelCorruptor>) => void, extra: string[] = []) =>
    withMigratedImage(
      { imagePath, reportPath: dir.file(`${name}.json`), sourceArgs: ['--streams', '2', ...extra], relay: (port) => ChannelCorruptor.start(port, flip) },
      check,
    );

  it('a paused image arrives byte for byte; raw pages went in direct batches and nothing was repaired', () =>
    migrateImage('plain', 'none', ({ relay: proxy, report, memory }) => {
      expect(report.status).toBe('completed');
      expect(proxy.directBatches).toBeGreaterThan(0);
      expect(report.pagesSent.raw).toBeGreaterThan(0);
      expect(report.repair).toBeUndefined();
      expect(memory(image.length).equals(image)).toBe(true);
    }));

  it('--no-direct-pages keeps the plain batch form', () =>
    migrateImage(
      'off',
      'none',
      ({ relay: proxy, report }) => {
        expect(report.status).toBe('completed');
        expect(proxy.directBatches).toBe(0);
        expect(proxy.plainBatches).toBeGreaterThan(0);
      },
      ['--no-direct-pages'],
    ));

  it('a flipped byte in a raw page is caught at commit and exactly that page is sent again', () =>
    migrateImage('raw-flip', 'raw-page', ({ relay: proxy, report, memory }) => {
      expect(proxy.flipped).toBe(true);
      expect(proxy.flippedPage).toBeDefined();
      expect(report.status).toBe('completed');
      expect(report.repair).toEqual({ passes: 1, pages: 1 });
      expect(memory(image.length).equals(image)).toBe(true);
    }));

  // A running guest (writing during the sends) that finishes its ops, so the source exits by itself; under
  // --compress none every page that is not one repeated byte goes Raw.
  const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'uniform', '--seed', '12', '--ops', '6000', '--dirty-rate', '24MiB', '--delta-cache', '0'];

  for (const flip of ['entry-count', 'entry'] as const) {
    it(`a flipped byte in the ${flip === 'entry' ? "first entry's page index" : "batch's entry count"} fails the frame check (LM_ERR_CRC_MISMATCH); the guest never runs there and runs on here`, async () => {
      const expected = await oracleDigest(guestArgs);
      const destReport = dir.file(`${flip}-dest.json`);
      const dest = await startDest(['--once', '--report', destReport]);
      const proxy = await ChannelCorruptor.start(dest.port, flip);
      const sourceReport = dir.file(`${flip}-source.json`);
      try {
        const source = runSource([...guestArgs, '--compress', 'none', '--migrate-to', proxy.address, '--migrate-after', '400ms', '--report', sourceReport]);
        const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
        expect(proxy.flipped).toBe(true);
        const report = readJson(sourceReport);
        expect(report.status).toBe('failed');
        expect(report.error.code).toBe('LM_ERR_CRC_MISMATCH');
        expect(finalDigestOf(sourceDone.stdout)).toBe(expected);
        const received = readJson(destReport);
        expect(destDone.code).toBe(1);
        expect(received.status).toBe('failed');
        expect(received.activationMs).toBeNull();
        expect(received.error.code).toBe('LM_ERR_CRC_MISMATCH');
      } finally {
        await proxy.close();
      }
    });
  }

  it('a guest writing during the sends: the deterministic oracle holds with direct batches', async () => {
    const expected = await oracleDigest(guestArgs);
    const dest = await startDest(['--once']);
    const proxy = await ChannelCorruptor.start(dest.port, 'none');
    try {
      const source = runSource([...guestArgs, '--migrate-to', proxy.address, '--migrate-after', '400ms', '--compress', 'none']);
      const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(destDone.code, destDone.stderr).toBe(0);
      expect(proxy.directBatches).toBeGreaterThan(0);
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
    } finally {
      await proxy.close();
    }
  });
});
