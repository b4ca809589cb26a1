import { controlError, oneLine, type ControlError } from './errors.js';
import { describeJsonType, isJsonObject } from './json-body.js';

export interface StringOption {
  type: 'string';
  required?: boolean;
  /** The only values allowed. */
  enum?: readonly string[];
  /** The longest value taken, in characters; default MAX_STRING_OPTION_CHARS. */
  maxLength?: number;
}

/** Every string option is bounded: the longest value taken when its spec names no other limit. */
export const MAX_STRING_OPTION_CHARS = 256;

export interface NumberOption {
  type: 'number';
  required?: boolean;
  integer?: boolean;
  min?: number;
  max?: number;
}

export interface BooleanOption {
  type: 'boolean';
  required?: boolean;
}

export type OptionSpec = StringOption | NumberOption | BooleanOption;
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends { type: 'string'; enum: readonly (infer E extends string)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'number' }
      ? number
      : boolean;

type RequiredKeys<S extends OptionSchema> = { [K in keyof S]: S[K] extends { required: true } ? K : never }[keyof S];

/** The object `readOptions` returns for schema `S`: required options present, the others optional. */
export type OptionsOf<S extends OptionSchema> = {
  [K in RequiredKeys<S>]: ValueOf<S[K]>;
} & {
  [K in Exclude<keyof S, RequiredKeys<S>>]?: ValueOf<S[K]>;
} extends infer O
  ? { [K in keyof O]: O[K] }
  : never;

/**
 * Declares a schema once and keeps its literal types (`required: true`, enum values) for `OptionsOf`, e.g.
 * `const START = optionSchema({ target: { type: 'string', required: true } })`.
 */
export function optionSchema<const S extends OptionSchema>(schema: S): S {
  return schema;
}

/**
 * Validates a request body against a schema and returns only the schema's keys. Throws a 400 ControlError
 * (LM_ERR_BAD_REQUEST) naming the first problem: unknown keys first (a misspelt key would otherwise show up as
 * a missing one), then each schema key in schema order.
 */
export function readOptions<const S extends OptionSchema>(body: unknown, schema: S): OptionsOf<S> {
  if (!isJsonObject(body)) throw badOption(`request body must be a JSON object, got ${describeJsonType(body)}`);
  const known = Object.keys(schema);
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(schema, key)) {
      throw badOption(`unknown option ${quote(key)} (known: ${known.length === 0 ? 'none' : known.join(', ')})`);
    }
  }
  const options: Record<string, unknown> = {};
  for (const key of known) {
    const spec = schema[key]!;
    const value = Object.hasOwn(body, key) ? body[key] : undefined;
    if (value === undefined) {
      if (spec.required === true) throw badOption(`missing option ${quote(key)}`);
      continue;
    }
    const problem = checkValue(spec, value);
    if (problem !== undefined) throw badOption(`option ${quote(key)} must be ${problem}, got ${show(value)}`);
    options[key] = value;
  }
  return options as OptionsOf<S>;
}

/** What the value should have been, or undefined when it fits the spec. */
function checkValue(spec: OptionSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'string': {
      if (spec.enum !== undefined) {
        const allowed = `one of ${spec.enum.map(quote).join(', ')}`;
        return typeof value === 'string' && spec.enum.includes(value) ? undefined : allowed;
      }
      if (typeof value !== 'string') return 'a string';
      const maxLength = spec.maxLength ?? MAX_STRING_OPTION_CHARS;
      return value.length <= maxLength ? undefined : `a string of at most ${maxLength} characters`;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'a boolean';
    case 'number': {
      const bounds = [spec.min === undefined ? '' : `>= ${spec.min}`, spec.max === undefined ? '' : `<= ${spec.max}`]
        .filter((b) => b !== '')
        .join(' and ');
      const wanted = `${spec.integer === true ? 'an integer' : 'a number'}${bounds === '' ? '' : ` ${bounds}`}`;
      if (typeof value !== 'number' || !Number.isFinite(value)) return wanted;
      if (spec.integer === true && !Number.isInteger(value)) return wanted;
      if (spec.min !== undefined && value < spec.min) return wanted;
      if (spec.max !== undefined && value > spec.max) return wanted;
      return undefined;
    }
  }
}

function quote(text: string): string {
  return JSON.stringify(oneLine(text, 100));
}

/** The offending value as JSON (strings quoted), cut short. */
function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return oneLine(text, 80);
}

function badOption(message: string): ControlError {
  return controlError('LM_ERR_BAD_REQUEST', message);
}
