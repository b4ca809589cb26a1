import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, readJson, runSource, startAgent, startDest, tempDir, waitForLine } from './support/agents.js';

// A destination that stays up (no --once) after its guest ended must not keep that guest's memory until another
// guest arrives: the listen command (in a process of its own, with --expose-gc) hosts a 64 MiB guest for 200 ms,
// or until it migrated onward, then, with its report written and the heap collected, says how many bytes its
// array buffers still hold.
const IMAGE_BYTES = 64 * 1024 * 1024;

describe('an idle destination', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  /** The idle destination receives the image (and with ONWARD in `env` sends it on); what its array buffers hold after. */
  async function heldAfter(name: string, env: Record<string, string> = {}): Promise<{ held: number; report: Record<string, any> }> {
    const image = dir.file(`${name}.img`);
    writeFileSync(image, randomBytes(IMAGE_BYTES));
    const reportPath = dir.file(`${name}.json`);
    const dest = startAgent(join(ROOT, 'test/support/idle-destination.mjs'), [reportPath], { NODE_OPTIONS: '--expose-gc', ...env });
    try {
      const [, address] = await waitForLine(dest, /^listening (\S+)$/);
      const source = await runSource(['--image-file', image, '--paused', '--migrate-to', address!, '--migrate-after', '0']).done;
      expect(source.code, source.stderr).toBe(0);
      const [, held] = await waitForLine(dest, /^held rss \d+ arrayBuffers (\d+)$/);
      expect((await dest.done).code).toBe(0);
      return { held: Number(held), report: readJson(reportPath) };
    } finally {
      dest.child.kill('SIGKILL');
    }
  }

  // The guest's memory alone was IMAGE_BYTES of shared array buffers.
  it("holds none of its last guest's memory once the guest ended", async () => {
    const { held, report } = await heldAfter('ran');
    expect(report.ended).toBe('run-for');
    expect(held).toBeLessThan(IMAGE_BYTES / 16);
  });

  it('holds none of it either once the guest migrated onward, with the migration kept in the control API', async () => {
    const next = await startDest(['--once', '--run-for', '0']);
    const { held, report } = await heldAfter('onward', { ONWARD: next.address });
    expect(report.ended).toBe('migrated');
    expect(report.onward.status).toBe('completed');
    expect(held).toBeLessThan(IMAGE_BYTES / 16);
    expect((await next.done).code).toBe(0);
  });
});
