import { describe, expect, it } from 'vitest';
import { formatBytes } from '../dist/units.js';

// The agents' logs and bench's tables print sizes with this one function.
describe('formatBytes', () => {
  it('prints whole bytes below 1 KiB and one decimal in the largest binary unit above', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(64 * 1024 ** 2)).toBe('64.0 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatBytes(2 * 1024 ** 5)).toBe('2048.0 TiB');
  });

  it('scales a negative size (a difference) like its magnitude', () => {
    expect(formatBytes(-512)).toBe('-512 B');
    expect(formatBytes(-1536)).toBe('-1.5 KiB');
    expect(formatBytes(-3 * 1024 ** 3)).toBe('-3.0 GiB');
  });
});
