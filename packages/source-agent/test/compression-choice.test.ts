import { describe, expect, it } from 'vitest';
// Not exported from the package index: import the built module directly (npm run build first).
import { CompressionChoice, isLoopbackHost, type BatchSample } from '../dist/compression-choice.js';

const PAGE_BYTES = 256 * 1024;

/** A way to send a batch, as the channel model knows it: none, lz4, or zstd at a level. */
type Way = 'none' | 'lz4' | 'zstd1' | 'zstd3' | 'zstd6' | 'zstd9';

/** What a batch of PAGE_BYTES costs each way on a channel: encode ms per page byte, wire share, link. */
interface Channel {
  encodeMsPerByte: Record<Way, number>;
  wireRatio: Record<Way, number>;
  /** Wire bytes per ms the link carries. */
  linkRate: number;
  /** The link is the source's rate limit (--max-bandwidth): its waits are the limiter's, not the socket's. */
  rateLimited?: boolean;
}

function wayOf(choice: CompressionChoice, compression: 'none' | 'lz4' | 'zstd'): Way {
  return compression === 'zstd' ? (`zstd${choice.zstdLevel}` as Way) : compression;
}

/** The batch the channel would send the way `choice` just said: the slower of encoding and the link sets its time. */
function sample(channel: Channel, choice: CompressionChoice, compression: 'none' | 'lz4' | 'zstd'): BatchSample {
  const way = wayOf(choice, compression);
  const encodeMs = PAGE_BYTES * channel.encodeMsPerByte[way];
  const wireBytes = Math.round(PAGE_BYTES * channel.wireRatio[way]);
  const linkMs = wireBytes / channel.linkRate;
  const wallMs = Math.max(encodeMs, linkMs);
  const waitMs = wallMs - encodeMs;
  return { compression, pageBytes: PAGE_BYTES, wireBytes, compressibleBytes: PAGE_BYTES, compressibleWireBytes: wireBytes, wallMs, waitMs, limitWaitMs: channel.rateLimited ? waitMs : 0 };
}

/** Runs `batches` batches through the choice on `channel`; returns how many went each way. */
function drive(choice: CompressionChoice, channel: Channel, batches: number): Record<string, number> {
  for (let i = 0; i < batches; i++) choice.sent(sample(channel, choice, choice.next()));
  return choice.takeCounts();
}

/** Runs `batches` batches and returns the time they took on `channel` (a batch's wall time, as sample() gives it). */
function timeOf(choice: CompressionChoice, channel: Channel, batches: number): number {
  let ms = 0;
  for (let i = 0; i < batches; i++) {
    const s = sample(channel, choice, choice.next());
    ms += s.wallMs;
    choice.sent(s);
  }
  return ms;
}

// Speeds as measured here on one core: raw ~4 GB/s, lz4 ~1 GB/s, zstd level 1 ~0.3 GB/s on 64 KiB runs of text;
// the higher levels as on the bench's real image, relative to level 1.
const TEXT = {
  encodeMsPerByte: { none: 1 / 4e6, lz4: 1 / 1e6, zstd1: 1 / 0.3e6, zstd3: 1 / 0.25e6, zstd6: 1 / 0.075e6, zstd9: 1 / 0.04e6 },
  wireRatio: { none: 1, lz4: 0.3, zstd1: 0.15, zstd3: 0.144, zstd6: 0.136, zstd9: 0.134 },
};
// The bench's real image (16-page runs, one core, page-zstd.ts): lz4 871 MB/s to 31.2 %, zstd 1/3/6/9 552/452/137/76 MB/s
// to 20.7/19.9/18.8/18.5 %.
const REAL = {
  encodeMsPerByte: { none: 1 / 4e6, lz4: 1 / 871e3, zstd1: 1 / 552e3, zstd3: 1 / 452e3, zstd6: 1 / 137e3, zstd9: 1 / 76e3 },
  wireRatio: { none: 1, lz4: 0.312, zstd1: 0.207, zstd3: 0.199, zstd6: 0.188, zstd9: 0.185 },
};
/** One of two channels' share of a link of `mbit` Mbit/s, in bytes per ms. */
const share = (mbit: number): number => (mbit * 1e6) / 8 / 1e3 / 2;

describe('CompressionChoice', () => {
  it('a fixed mode is used for every batch; zstd falls back to lz4 when the destination cannot read it', () => {
    expect(drive(new CompressionChoice('lz4', true), { ...TEXT, linkRate: 1e3 }, 5)).toMatchObject({ none: 0, lz4: 5, zstd: 0 });
    expect(drive(new CompressionChoice('none', true), { ...TEXT, linkRate: 1e3 }, 3)).toMatchObject({ none: 3, lz4: 0, zstd: 0 });
    expect(drive(new CompressionChoice('zstd', false), { ...TEXT, linkRate: 1e3 }, 2)).toMatchObject({ none: 0, lz4: 2, zstd: 0 });
  });

  it('a fixed zstd stays at level 1 on any link', () => {
    const levels: number[] = [];
    const choice = new CompressionChoice('zstd', true, (level) => levels.push(level));
    expect(drive(choice, { ...TEXT, linkRate: share(100) }, 64)).toMatchObject({ zstd: 64, zstd3: 0, zstd6: 0, zstd9: 0 });
    expect(levels).toEqual([]);
  });

  it('auto: raw from the start on a link that never holds batches back (10 GB/s), though zstd leaves the fewest bytes', () => {
    const choice = new CompressionChoice('auto', true);
    drive(choice, { ...TEXT, linkRate: 10e6 }, 3);
    expect(choice.best()).toBe('none');
    const counts = drive(choice, { ...TEXT, linkRate: 10e6 }, 256);
    expect(choice.linkBound).toBe(false);
    expect(counts.none).toBeGreaterThanOrEqual(250);
    // Retries of the other ways cost at most a few batches' worth of time, not one batch in 16.
    expect(counts.zstd).toBeLessThanOrEqual(2);
  });

  it('auto on a fast link finishes within 10 % of the best fixed mode, and sooner than zstd', () => {
    const channel = { ...TEXT, linkRate: 10e6 };
    const auto = timeOf(new CompressionChoice('auto', true), channel, 512);
    const fixed = Object.fromEntries((['none', 'lz4', 'zstd'] as const).map((m) => [m, timeOf(new CompressionChoice(m, true), channel, 512)]));
    expect(auto).toBeLessThanOrEqual(1.1 * Math.min(...Object.values(fixed)));
    expect(auto).toBeLessThan(fixed.zstd!);
  });

  it('auto: zstd on a fast link when its measured cost is least (cores where zstd encodes faster than the rest)', () => {
    const odd = {
      encodeMsPerByte: { none: 1 / 0.2e6, lz4: 1 / 0.5e6, zstd1: 1 / 2e6, zstd3: 1 / 1e6, zstd6: 1 / 0.5e6, zstd9: 1 / 0.2e6 },
      wireRatio: TEXT.wireRatio,
      linkRate: 100e6,
    };
    const choice = new CompressionChoice('auto', true);
    const counts = drive(choice, odd, 128);
    expect(choice.linkBound).toBe(false);
    expect(choice.best()).toBe('zstd');
    expect(counts.zstd).toBeGreaterThanOrEqual(120);
    // Never above level 1 while the link keeps up: a denser level only pays for bytes.
    expect(counts.zstd3 + counts.zstd6 + counts.zstd9).toBe(0);
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

  it('auto: the zstd level by the link, on the real image: 9 at 100 Mbit/s (every level outruns the link), 3 at 1 Gbit/s (6 does not)', () => {
    const levels: number[] = [];
    const slow = new CompressionChoice('auto', true, (level) => levels.push(level));
    drive(slow, { ...REAL, linkRate: share(100) }, 128);
    expect(drive(slow, { ...REAL, linkRate: share(100) }, 64).zstd9).toBeGreaterThanOrEqual(56);
    expect(levels).toContain(9);

    const gbit = new CompressionChoice('auto', true);
    const first = drive(gbit, { ...REAL, linkRate: share(1000) }, 256);
    expect(first.zstd9).toBe(0);
    expect(gbit.zstdLevel).toBe(3);
    expect(drive(gbit, { ...REAL, linkRate: share(1000) }, 64).zstd3).toBeGreaterThanOrEqual(56);
  });

  it('auto: every zstd batch is encoded at the level the choice records, also after other ways in between', () => {
    // The encoder keeps its level across lz4 or raw batches, so a return to level 1 must set it again. The link
    // changes every 40 batches (100 Mbit/s to 3.2 Gbit/s) and encode times are noisy, so every way is taken.
    let wrong = 0;
    const taken = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      let state = seed;
      const random = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
      let encoderLevel = 1;
      const choice = new CompressionChoice('auto', true, (level) => (encoderLevel = level));
      let linkRate = 0;
      for (let batch = 0; batch < 2000; batch++) {
        if (batch % 40 === 0) linkRate = [12_500, 30_000, 60_000, 125_000, 400_000][Math.floor(random() * 5)]!;
        const compression = choice.next();
        if (compression === 'zstd' && encoderLevel !== choice.zstdLevel) wrong += 1;
        // The batch costs what the encoder really did: its level, not the one the choice believes in.
        const way: Way = compression === 'zstd' ? (`zstd${encoderLevel}` as Way) : compression;
        taken.add(way);
        const encodeMs = PAGE_BYTES * REAL.encodeMsPerByte[way] * (0.5 + random());
        const wireBytes = Math.round(PAGE_BYTES * REAL.wireRatio[way]);
        const wallMs = Math.max(encodeMs, wireBytes / linkRate);
        choice.sent({ compression, pageBytes: PAGE_BYTES, wireBytes, compressibleBytes: PAGE_BYTES, compressibleWireBytes: wireBytes, wallMs, waitMs: wallMs - encodeMs, limitWaitMs: 0 });
      }
    }
    expect([...taken].sort()).toEqual(['lz4', 'none', 'zstd1', 'zstd3', 'zstd6', 'zstd9']);
    expect(wrong).toBe(0);
  });

  it('auto: the level it settles on finishes sooner than zstd at level 1 at 100 Mbit/s, and about level with it at 1 Gbit/s (real image)', () => {
    const run = (mbit: number, mode: 'auto' | 'zstd'): number => timeOf(new CompressionChoice(mode, true), { ...REAL, linkRate: share(mbit) }, 512);
    expect(run(100, 'auto')).toBeLessThan(0.95 * run(100, 'zstd'));
    // Level 3 leaves 4 % fewer bytes there, about what the start (a raw batch) and the retries cost.
    expect(run(1000, 'auto')).toBeLessThan(1.02 * run(1000, 'zstd'));
  });

  it('auto: zstd at 100 Mbit/s also when sends wait in bursts (one batch waits for the queue to drain, the next ones do not)', () => {
    const choice = new CompressionChoice('auto', true);
    const channel = { ...TEXT, linkRate: 12.5e3 };
    let backlogMs = 0;
    for (let i = 0; i < 256; i++) {
      const { compression, pageBytes, wireBytes, compressibleBytes, compressibleWireBytes, waitMs, wallMs } = sample(channel, choice, choice.next());
      const encodeMs = wallMs - waitMs;
      backlogMs += wireBytes / channel.linkRate - encodeMs;
      const wait = i % 4 === 3 ? Math.max(backlogMs, 0) : 0;
      if (i % 4 === 3) backlogMs = 0;
      choice.sent({ compression, pageBytes, wireBytes, compressibleBytes, compressibleWireBytes, wallMs: encodeMs + wait, waitMs: wait, limitWaitMs: 0 });
    }
    expect(choice.best()).toBe('zstd');
  });

  it('auto: a dense level slower than the link does not make the link look slow (sends waiting in bursts, cores at a third of the speed)', () => {
    const loaded = { ...REAL, encodeMsPerByte: Object.fromEntries(Object.entries(REAL.encodeMsPerByte).map(([way, ms]) => [way, way === 'none' ? ms : 3 * ms])) as Channel['encodeMsPerByte'], linkRate: share(1000) };
    const choice = new CompressionChoice('auto', true);
    let backlogMs = 0;
    const counts: Record<string, number> = {};
    for (let i = 0; i < 512; i++) {
      const s = sample(loaded, choice, choice.next());
      const encodeMs = s.wallMs - s.waitMs;
      // The queue absorbs what the link has not sent yet; every 16th batch waits for it to drain.
      backlogMs = Math.max(backlogMs + s.wireBytes / loaded.linkRate - encodeMs, 0);
      const wait = i % 16 === 15 ? backlogMs : 0;
      if (i % 16 === 15) backlogMs = 0;
      if (i >= 384) counts[wayOf(choice, s.compression)] = (counts[wayOf(choice, s.compression)] ?? 0) + 1;
      choice.sent({ ...s, wallMs: encodeMs + wait, waitMs: wait, limitWaitMs: 0 });
    }
    expect(choice.linkRate).toBeGreaterThan(0.5 * loaded.linkRate);
    expect(counts.zstd9 ?? 0).toBeLessThanOrEqual(8);
  });

  it('auto, destination on loopback: sends waiting for a starved destination are not a slow link (lz4, never zstd)', () => {
    // 300 MB/s: the pace of a destination whose cores are shared; on loopback a wait is the destination's cores.
    const starved = { ...TEXT, linkRate: 300e3 };
    const loopback = new CompressionChoice('auto', true, () => {}, true);
    const counts = drive(loopback, starved, 256);
    expect(loopback.linkBound).toBe(false);
    expect(loopback.best()).toBe('lz4');
    expect(counts.zstd).toBeLessThanOrEqual(4);
    expect(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost') && !isLoopbackHost('10.203.0.2')).toBe(true);
  });

  it('auto, destination on loopback under --max-bandwidth: the rate limit is a slow link (zstd climbs levels)', () => {
    // 12.5 MB/s of rate limit on the real image: as the 100 Mbit/s link, zstd and its higher levels pay.
    const limited = { ...REAL, linkRate: 12.5e3, rateLimited: true };
    const loopback = new CompressionChoice('auto', true, () => {}, true);
    const counts = drive(loopback, limited, 256);
    expect(loopback.linkBound).toBe(true);
    expect(loopback.best()).toBe('zstd');
    expect(counts.zstd3 + counts.zstd6 + counts.zstd9).toBeGreaterThan(counts.zstd / 2);
    // The same waits at the socket, on loopback, are the destination's cores: no link.
    const socket = new CompressionChoice('auto', true, () => {}, true);
    drive(socket, { ...limited, rateLimited: false }, 256);
    expect(socket.linkBound).toBe(false);
  });

  it('auto, on loopback: once stop-and-copy lifts the rate limit no link is left, and the cores decide again', () => {
    const limited = { ...REAL, linkRate: 12.5e3, rateLimited: true };
    const choice = new CompressionChoice('auto', true, () => {}, true);
    drive(choice, limited, 256);
    expect(choice.linkBound).toBe(true);
    expect(choice.limitLifted()).toBe(true);
    // As a loopback migration without a limit: no link bound (so no deltas in the final round) and no zstd level
    // above 1, whose bytes nothing waits for now.
    expect(choice.linkBound).toBe(false);
    const counts = drive(choice, { ...limited, rateLimited: false, linkRate: 1e9 }, 16);
    expect(counts.zstd3 + counts.zstd6 + counts.zstd9).toBe(0);
    // A real link keeps what its socket's waits showed: only the limit's own waits are forgotten on loopback.
    const link = new CompressionChoice('auto', true, () => {}, false);
    drive(link, limited, 256);
    expect(link.limitLifted()).toBe(false);
    expect(link.linkBound).toBe(true);
    // Nor does a loopback choice that no limit made link-bound change (the usual final round on this host).
    const unlimited = new CompressionChoice('auto', true, () => {}, true);
    drive(unlimited, { ...limited, rateLimited: false }, 64);
    expect(unlimited.limitLifted()).toBe(false);
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
      choice.sent({ compression: 'none', pageBytes: PAGE_BYTES, wireBytes: 64 * 5 * 4, compressibleBytes: 0, compressibleWireBytes: 0, wallMs: 0.05, waitMs: 0, limitWaitMs: 0 });
    }
    expect(choice.best()).toBe('zstd');
  });

  it('auto: tries every compression it may use once at the start, zstd only when the destination reads it', () => {
    const both = new CompressionChoice('auto', true);
    expect(drive(both, { ...TEXT, linkRate: 1e3 }, 3)).toMatchObject({ none: 1, lz4: 1, zstd: 1 });
    const noZstd = new CompressionChoice('auto', false);
    expect(drive(noZstd, { ...TEXT, linkRate: 1e3 }, 40).zstd).toBe(0);
  });
});
