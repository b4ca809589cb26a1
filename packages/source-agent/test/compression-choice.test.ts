import { describe, expect, it } from 'vitest';
// Not exported from the package index: import the built module directly (npm run build first).
import { CompressionChoice, type BatchSample } from '../dist/compression-choice.js';

const PAGE_BYTES = 256 * 1024;

/** What a batch of PAGE_BYTES costs under each compression on a channel: encode ms, wire share, link. */
interface Channel {
  encodeMsPerByte: Record<'none' | 'lz4' | 'zstd', number>;
  wireRatio: Record<'none' | 'lz4' | 'zstd', number>;
  /** Wire bytes per ms the link carries. */
  linkRate: number;
}

/** The batch the channel would send under `compression`: the slower of encoding and the link sets its time. */
function sample(channel: Channel, compression: 'none' | 'lz4' | 'zstd'): BatchSample {
  const encodeMs = PAGE_BYTES * channel.encodeMsPerByte[compression];
  const wireBytes = Math.round(PAGE_BYTES * channel.wireRatio[compression]);
  const linkMs = wireBytes / channel.linkRate;
  const wallMs = Math.max(encodeMs, linkMs);
  return { compression, pageBytes: PAGE_BYTES, wireBytes, compressibleBytes: PAGE_BYTES, compressibleWireBytes: wireBytes, wallMs, waitMs: wallMs - encodeMs };
}

/** Runs `batches` batches through the choice on `channel`; returns how many went each way. */
function drive(choice: CompressionChoice, channel: Channel, batches: number): Record<string, number> {
  for (let i = 0; i < batches; i++) choice.sent(sample(channel, choice.next()));
  return choice.takeCounts();
}

// Speeds as measured here on one core: raw ~4 GB/s, lz4 ~1 GB/s, zstd level 1 ~0.3 GB/s on 64 KiB runs of text.
const TEXT = {
  encodeMsPerByte: { none: 1 / 4e6, lz4: 1 / 1e6, zstd: 1 / 0.3e6 },
  wireRatio: { none: 1, lz4: 0.3, zstd: 0.15 },
};

describe('CompressionChoice', () => {
  it('a fixed mode is used for every batch; zstd falls back to lz4 when the destination cannot read it', () => {
    expect(drive(new CompressionChoice('lz4', true), { ...TEXT, linkRate: 1e3 }, 5)).toEqual({ none: 0, lz4: 5, zstd: 0 });
    expect(drive(new CompressionChoice('none', true), { ...TEXT, linkRate: 1e3 }, 3)).toEqual({ none: 3, lz4: 0, zstd: 0 });
    expect(drive(new CompressionChoice('zstd', false), { ...TEXT, linkRate: 1e3 }, 2)).toEqual({ none: 0, lz4: 2, zstd: 0 });
  });

  it('auto: zstd until the link is measured, then raw when it outruns every compressor (10 GB/s)', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 10e6 }, 3);
    expect(choice.best()).toBe('zstd');
    drive(choice, { ...TEXT, linkRate: 10e6 }, 256);
    expect(choice.best()).toBe('none');
    const counts = drive(choice, { ...TEXT, linkRate: 10e6 }, 64);
    expect(counts.none).toBeGreaterThanOrEqual(60);
  });

  it('linkBound: only once batches waited for the link (the final round sends deltas only then)', () => {
    const fast = new CompressionChoice('auto', true);
    drive(fast, { ...TEXT, linkRate: 10e6 }, 64);
    expect(fast.linkBound).toBe(false);
    const slow = new CompressionChoice('auto', true);
    drive(slow, { ...TEXT, linkRate: 12.5e3 }, 8);
    expect(slow.linkBound).toBe(true);
  });

  it('auto: lz4 at 1 Gbit/s, where zstd cannot keep up with the link and raw waits for it', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 125e3 }, 64);
    expect(choice.best()).toBe('lz4');
  });

  it('auto: zstd at 100 Mbit/s, where the fewest bytes win', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 12.5e3 }, 64);
    expect(choice.best()).toBe('zstd');
    const counts = drive(choice, { ...TEXT, linkRate: 12.5e3 }, 64);
    expect(counts.zstd).toBeGreaterThanOrEqual(56);
  });

  it('auto: zstd at 100 Mbit/s also when sends wait in bursts (one batch waits for the queue to drain, the next ones do not)', () => {
    const choice = new CompressionChoice('auto', true);
    const channel = { ...TEXT, linkRate: 12.5e3 };
    let backlogMs = 0;
    for (let i = 0; i < 256; i++) {
      const { compression, pageBytes, wireBytes, compressibleBytes, compressibleWireBytes, waitMs, wallMs } = sample(channel, choice.next());
      const encodeMs = wallMs - waitMs;
      backlogMs += wireBytes / channel.linkRate - encodeMs;
      const wait = i % 4 === 3 ? Math.max(backlogMs, 0) : 0;
      if (i % 4 === 3) backlogMs = 0;
      choice.sent({ compression, pageBytes, wireBytes, compressibleBytes, compressibleWireBytes, wallMs: encodeMs + wait, waitMs: wait });
    }
    expect(choice.best()).toBe('zstd');
  });

  it('auto: follows the link when it slows down mid-migration', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 10e6 }, 256);
    expect(choice.best()).toBe('none');
    drive(choice, { ...TEXT, linkRate: 12.5e3 }, 128);
    expect(choice.best()).toBe('zstd');
  });

  it('auto: a batch of pages every compression sends alike (zero pages) teaches it nothing about the compressions', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 12.5e3 }, 64);
    expect(choice.best()).toBe('zstd');
    for (let i = 0; i < 64; i++) {
      choice.sent({ compression: 'none', pageBytes: PAGE_BYTES, wireBytes: 64 * 5 * 4, compressibleBytes: 0, compressibleWireBytes: 0, wallMs: 0.05, waitMs: 0 });
    }
    expect(choice.best()).toBe('zstd');
  });

  it('auto: tries every compression it may use once at the start, zstd only when the destination reads it', () => {
    const both = new CompressionChoice('auto', true);
    expect(Object.values(drive(both, { ...TEXT, linkRate: 1e3 }, 3))).toEqual([1, 1, 1]);
    const noZstd = new CompressionChoice('auto', false);
    expect(drive(noZstd, { ...TEXT, linkRate: 1e3 }, 40).zstd).toBe(0);
  });
});
