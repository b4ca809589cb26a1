import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/agents.js';

describe('npm start', () => {
  it('the demo migrates a 256 MiB hotcold guest and says the digests match', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts/demo.mjs')], { encoding: 'utf8', timeout: 170_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/round +1 pre-copy/);
    expect(run.stdout).toMatch(/stop-and-copy/);
    expect(run.stdout).toMatch(/^status +completed$/m);
    expect(run.stdout).toMatch(/^digests match +yes/m);
    expect(run.stdout).toMatch(/^downtime +[\d.]+ ms$/m);
  });
});
