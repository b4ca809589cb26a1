/**
 * Rounds to one decimal place: the precision of every millisecond figure in the report and the live
 * statistics. Infinity and NaN pass through unchanged.
 */
export function roundTenth(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 10) / 10 : value;
}
