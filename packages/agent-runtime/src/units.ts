import { BadArgumentError } from '@livemig/protocol';

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** Parses "256MiB", "1GiB", "6gib", "512KB", "4096" into bytes. @throws BadArgumentError */
export function parseSize(text: string | number, flag = 'size'): number {
  if (typeof text === 'number' && Number.isFinite(text) && text >= 0) return Math.floor(text);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(text));
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new BadArgumentError(`--${flag}: cannot read "${text}" as a size (e.g. 256MiB, 1GiB)`);
  }
  return Math.floor(Number(match[1]) * unit);
}

/**
 * Parses a rate in bytes per second: "3MB/s", "100MiB/s", "1GB" (the "/s" is optional), like QEMU's
 * max-bandwidth. @throws BadArgumentError
 */
export function parseRate(text: string | number, flag = 'rate'): number {
  const bare = typeof text === 'string' ? text.replace(/\/s\s*$/i, '') : text;
  try {
    return parseSize(bare, flag);
  } catch {
    throw new BadArgumentError(`--${flag}: cannot read "${text}" as a rate (e.g. 3MB/s, 100MiB/s)`);
  }
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** Parses "300ms", "1s", "1.5s", "2m" or a plain number of milliseconds. @throws BadArgumentError */
export function parseDuration(text: string | number, flag = 'duration'): number {
  if (typeof text === 'number' && Number.isFinite(text) && text >= 0) return text;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(text));
  const unit = match ? DURATION_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new BadArgumentError(`--${flag}: cannot read "${text}" as a duration (e.g. 300ms, 1s, 2m)`);
  }
  return Number(match[1]) * unit;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "HOST:PORT" (or "[v6]:PORT"). @throws BadArgumentError */
export function parseHostPort(text: string, flag = 'migrate-to'): HostPort {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || !(port > 0 && port < 65536)) {
    throw new BadArgumentError(`--${flag}: expected HOST:PORT, got "${text}"`);
  }
  return { host: match[1], port };
}

/** "512 B", "64.0 MiB", "-1.5 KiB": binary units, one decimal above bytes; a negative size (a difference) scales like its magnitude. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
