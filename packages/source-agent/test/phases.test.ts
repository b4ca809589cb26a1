import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES, isCancellable, isFinalPhase } from '@livemig/source-agent';

describe('migration phases', () => {
  it('cancel is possible up to stop-and-copy, and refused from the switch to post-copy on, as from commit on', () => {
    expect(MIGRATION_PHASES.filter((phase) => isCancellable(phase))).toEqual(['handshake', 'reservation', 'pre-copy', 'stop-and-copy']);
    expect(isCancellable('post-copy')).toBe(false);
    expect(isFinalPhase('post-copy')).toBe(false);
  });
});
