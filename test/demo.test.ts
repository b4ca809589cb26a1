import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/agents.js';

describe('npm start', () => {
  it('the demo migrates a 256 MiB hotcold guest, says the digests match and writes the HTML report', () => {
    const dir = tempDir();
    const html = dir.file('demo.html');
    try {
      const run = spawnSync(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--report-html', html], { encoding: 'utf8', timeout: 170_000 });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/round +1 pre-copy/);
      expect(run.stdout).toMatch(/stop-and-copy/);
      expect(run.stdout).toMatch(/^status +completed$/m);
      expect(run.stdout).toMatch(/^digests match +yes/m);
      expect(run.stdout).toMatch(/^downtime +[\d.]+ ms$/m);
      expect(run.stdout).toContain(`\nHTML report      ${html}\n`);
      // The page itself is drawn and checked in a browser by report-html.test.ts.
      const page = readFileSync(html, 'utf8');
      expect(page).toMatch(/^<!doctype html>/);
      expect(page).toContain('"status":"completed"');
    } finally {
      dir.remove();
    }
  });
});
