import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

// LIVEMIG_TIMELINE is read once, when the module loads: each case sets it, then imports a fresh copy.
async function markStepWith(timeline: string): Promise<(step: string) => void> {
  process.env.LIVEMIG_TIMELINE = timeline;
  try {
    vi.resetModules();
    const module = await import('../dist/transport/step-timeline.js');
    return module.markStep;
  } finally {
    delete process.env.LIVEMIG_TIMELINE;
  }
}

describe('markStep (LIVEMIG_TIMELINE)', () => {
  it('appends one line per step: time, process:thread, step', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'timeline-')), 'steps.tsv');
    const markStep = await markStepWith(file);
    markStep('S parked');
    markStep('S Complete sent');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((line) => line.split('\t').slice(1))).toEqual([
      [`${process.pid}:main`, 'S parked'],
      [`${process.pid}:main`, 'S Complete sent'],
    ]);
  });

  // A mark sits in the middle of stop-and-copy and of the channel threads' rounds: a timeline that cannot be
  // written must not fail a migration (or end a channel thread), only go unwritten.
  it('never throws when the file cannot be opened', async () => {
    const markStep = await markStepWith(join(mkdtempSync(join(tmpdir(), 'timeline-')), 'no-such-dir', 'steps.tsv'));
    expect(() => markStep('S parked')).not.toThrow();
    expect(() => markStep('S Complete sent')).not.toThrow();
  });
});
