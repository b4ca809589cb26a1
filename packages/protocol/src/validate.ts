import { BadMessageError } from './errors.js';

/**
 * Field checks for control messages. Each takes the decoded value and a dotted field path, returns the
 * value typed, or throws BadMessageError naming the field and what was wrong with it.
 */

const describe = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Buffer.isBuffer(value)) return 'bin';
  if (typeof value === 'number') return `number ${value}`;
  return typeof value;
};

export function fail(field: string, problem: string): never {
  throw new BadMessageError(`bad message field '${field}': ${problem}`);
}

/** A msgpack map decoded to a plain object (not an array, bin or ext). */
export function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    fail(field, `expected map, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Own property only: a `__proto__` or inherited name never satisfies a required field. */
export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

export function string(value: unknown, field: string, minChars: number, maxChars: number): string {
  if (typeof value !== 'string') fail(field, `expected string, got ${describe(value)}`);
  if (value.length < minChars || value.length > maxChars) {
    fail(field, `length ${value.length} outside ${minChars}..${maxChars}`);
  }
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number') fail(field, `expected integer, got ${describe(value)}`);
  if (!Number.isSafeInteger(value)) fail(field, `expected integer, got ${value}`);
  if (value < min || value > max) fail(field, `${value} outside ${min}..${max}`);
  return value;
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') fail(field, `expected boolean, got ${describe(value)}`);
  return value;
}

export function finiteNumber(value: unknown, field: string, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, `expected finite number, got ${describe(value)}`);
  if (value < min) fail(field, `${value} below ${min}`);
  return value;
}

export function array(value: unknown, field: string, maxEntries: number): unknown[] {
  if (!Array.isArray(value)) fail(field, `expected array, got ${describe(value)}`);
  if (value.length > maxEntries) fail(field, `${value.length} entries, at most ${maxEntries}`);
  return value;
}

export function bytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(field, `expected bin, got ${describe(value)}`);
  if (value.length > maxBytes) fail(field, `${value.length} bytes, at most ${maxBytes}`);
  return value;
}

const LOWER_HEX = /^[0-9a-f]+$/;

export function lowerHex(value: unknown, field: string, maxChars: number): string {
  const s = string(value, field, 1, maxChars);
  if (!LOWER_HEX.test(s)) fail(field, 'expected lowercase hex');
  return s;
}
