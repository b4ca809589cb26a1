const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
};

/** Parses "64MiB", "1GiB", "512KB", "4096" into bytes, the same units the agents' CLIs take. */
export function parseSize(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`--${flag}: cannot read "${text}" as a size (e.g. 64MiB, 1GiB)`);
  return Math.floor(Number(match[1]) * unit);
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a positive integer, got "${text}"`);
  return n;
}

/** "1.0 GiB", "64.0 MiB": binary units, for sizes of images and RSS. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Throughput in GB/s (10^9 bytes per second), the unit every table here uses. */
export function gbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / ms : Number.POSITIVE_INFINITY;
}

/** A wrong flag or value: the CLI prints it and exits 2, like the agents. */
export class UsageError extends Error {
  override name = 'UsageError';
}
