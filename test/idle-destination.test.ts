import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, readJson, runSource, startAgent, tempDir, waitForLine } from './support/agents.js';

// A destination that stays up (no --once) after its guest ended must not keep that guest's memory until another
// guest arrives: the listen command (in a process of its own, with --expose-gc) hosts a 64 MiB guest for 200 ms,
// then, with its report written and the heap collected, says how many bytes its array buffers still hold.
const IMAGE_BYTES = 64 * 1024 * 1024;

describe('an idle destination', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("holds none of its last guest's memory once the guest ended", async () => {
    const image = dir.file('guest.img');
    writeFileSync(image, randomBytes(IMAGE_BYTES));
    const report = dir.file('dest.json');
    const dest = startAgent(join(ROOT, 'test/support/idle-destination.mjs'), [report], { NODE_OPTIONS: '--expose-gc' });
    try {
      const [, address] = await waitForLine(dest, /^listening (\S+)$/);
      const source = await runSource(['--image-file', image, '--paused', '--migrate-to', address!, '--migrate-after', '0']).done;
      expect(source.code, source.stderr).toBe(0);
      const [, held] = await waitForLine(dest, /^held rss \d+ arrayBuffers (\d+)$/);
      expect(readJson(report).ended).toBe('run-for');
      // The guest's memory alone was IMAGE_BYTES of shared array buffers.
      expect(Number(held)).toBeLessThan(IMAGE_BYTES / 16);
      expect((await dest.done).code).toBe(0);
    } finally {
      dest.child.kill('SIGKILL');
    }
  });
});
