/** Throughput in GB/s (10^9 bytes per second), the unit every table here uses. */
export function gbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / ms : Number.POSITIVE_INFINITY;
}

/** @throws UsageError unless `text` is an integer >= 1 */
export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a positive integer, got "${text}"`);
  return n;
}

/** A wrong flag or value: the CLI prints it and exits 2, like the agents. */
export class UsageError extends Error {
  override name = 'UsageError';
}
