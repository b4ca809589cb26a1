import { describe, expect, it } from 'vitest';
import { WarmChannels } from '../dist/warm-channels.js';

// The control API's first migration is handed channel threads spawned ahead (their start-up out of the
// migration's CPU and time); once only, and only to a migration asking for as many channels.
describe('WarmChannels', () => {
  it('hands its threads once, to a migration of as many channels; others spawn their own', async () => {
    const warm = new WarmChannels(2);
    expect(warm.take(3)).toBeUndefined();
    const set = warm.take(2);
    expect(set).toBeDefined();
    expect(warm.take(2)).toBeUndefined();
    const senders = await set!;
    expect(senders.count).toBe(2);
    // Closing the pool leaves a set it handed out to its migration.
    warm.close();
    expect(senders.count).toBe(2);
    senders.terminate();
  });

  it('close() ends a set nobody took, so the process can exit', async () => {
    const warm = new WarmChannels(1);
    warm.close();
    expect(warm.take(1)).toBeUndefined();
  });
});
