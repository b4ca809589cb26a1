import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runSource, tempDir } from './support/agents.js';
import { withMigratedImage } from './support/image-migration.js';

// A paused guest whose memory starts as an image file migrates as a pure stop-and-copy; the destination's
// memory must be the file, byte for byte, and the guest must stay paused there.
describe('--image-file with --paused', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('the destination image is byte-identical to the file', async () => {
    // 8 MiB + 100 bytes: zero pages, one-byte pages, text, random, and a partial last page.
    const image = Buffer.alloc(8 * 1024 * 1024 + 100);
    image.fill(0x5a, 4096, 8192);
    image.write('the quick brown fox jumps over the lazy dog '.repeat(40_000), 1024 * 1024);
    randomBytes(2 * 1024 * 1024).copy(image, 4 * 1024 * 1024);
    image[image.length - 1] = 7;
    const path = dir.file('guest.img');
    writeFileSync(path, image);

    // --compress lz4: what is checked here is the encoding by content (--compress auto may pick any compression).
    await withMigratedImage({ imagePath: path, reportPath: dir.file('source.json'), sourceArgs: ['--streams', '3', '--compress', 'lz4'] }, ({ guest, report, memory }) => {
      expect(report.status).toBe('completed');
      expect(report.memoryBytes).toBe(8 * 1024 * 1024 + 4096);
      // Pure stop-and-copy: one round with the image, an empty final round.
      expect(report.rounds.map((round: { pagesSent: number }) => round.pagesSent)).toEqual([report.rounds[0].pagesSent, 0]);
      expect(report.pagesSent.zero).toBe(0); // zero pages of the file are known zero: never sent
      expect(report.pagesSent.sameByte).toBeGreaterThan(0);
      expect(report.pagesSent.raw).toBeGreaterThan(0);
      expect(report.pagesSent.lz4).toBeGreaterThan(0);
      // The text pages lie back to back, so they go in Lz4Run entries: ~20 bytes a page here, against ~76 for
      // one lz4 entry per page.
      expect(report.bytesByEncoding.lz4 / report.pagesSent.lz4).toBeLessThan(40);

      expect(guest.parked).toBe(true);
      const received = memory(guest.memory.memoryBytes);
      expect(received.subarray(0, image.length).equals(readFileSync(path))).toBe(true);
      expect(received.subarray(image.length).every((byte) => byte === 0)).toBe(true);
    });
  });

  it('a zero image goes in one round, the stop-and-copy: no empty pre-copy round before it', async () => {
    // A sparse file: no page written, so the paused guest has nothing to pre-copy.
    const path = dir.file('zero.img');
    writeFileSync(path, Buffer.alloc(0));
    truncateSync(path, 16 * 1024 * 1024);
    await withMigratedImage({ imagePath: path, reportPath: dir.file('zero-source.json'), sourceArgs: ['--streams', '2'] }, ({ guest, report, destReport }) => {
      expect(report.status).toBe('completed');
      expect(report.switchoverReason).toBe('nothing-dirty');
      expect(report.rounds.map((round: { round: number; final: boolean; pagesSent: number }) => [round.round, round.final, round.pagesSent])).toEqual([[1, true, 0]]);
      expect(destReport.receivedDigest).toBe(report.sourceDigest);
      expect(guest.parked).toBe(true);
      expect(Buffer.from(guest.memory.slots[0]!.buffer).every((byte) => byte === 0)).toBe(true);
    });
  });

  it('an unreadable image file is a one-line error naming the flag', async () => {
    const done = await runSource(['--image-file', dir.file('missing.img')]).done;
    expect(done.code).toBe(2);
    expect(done.stderr.trim()).toMatch(/^source-agent: --image-file: cannot open .*missing\.img: ENOENT$/);
  });
});
