import { describe, expect, it } from 'vitest';
import { ControlError } from '../dist/control/errors.js';
import { optionSchema, readOptions, type OptionsOf } from '../dist/control/options.js';

const SCHEMA = optionSchema({
  target: { type: 'string', required: true },
  maxRounds: { type: 'number', integer: true, min: 1 },
  downtimeLimitMs: { type: 'number', min: 0, max: 60_000 },
  policy: { type: 'string', enum: ['downtime', 'xen'] },
  verify: { type: 'boolean' },
});

function problem(body: unknown): string {
  try {
    readOptions(body, SCHEMA);
  } catch (err) {
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ status: 400, code: 'LM_ERR_BAD_REQUEST' });
    return (err as Error).message;
  }
  throw new Error('readOptions accepted the body');
}

describe('readOptions', () => {
  it('returns the options given, typed', () => {
    const options: OptionsOf<typeof SCHEMA> = readOptions(
      { target: 'h:1', maxRounds: 3, downtimeLimitMs: 0.5, policy: 'xen', verify: false },
      SCHEMA,
    );
    expect(options).toEqual({ target: 'h:1', maxRounds: 3, downtimeLimitMs: 0.5, policy: 'xen', verify: false });
    expect(readOptions({ target: 'h:1' }, SCHEMA)).toEqual({ target: 'h:1' });
  });

  it('treats undefined values as absent', () => {
    expect(readOptions({ target: 't', maxRounds: undefined }, SCHEMA)).toEqual({ target: 't' });
  });

  it.each<[unknown, string]>([
    [{ target: 't', foo: 1 }, 'unknown option "foo" (known: target, maxRounds, downtimeLimitMs, policy, verify)'],
    // An unknown key is reported before the missing one it was probably meant to be.
    [{ tagret: 't' }, 'unknown option "tagret" (known: target, maxRounds, downtimeLimitMs, policy, verify)'],
    [{ target: 't', __proto__: 1, toString: 2 }, 'unknown option "toString" (known: target, maxRounds, downtimeLimitMs, policy, verify)'],
    [{}, 'missing option "target"'],
    [{ target: 3 }, 'option "target" must be a string, got 3'],
    [{ target: 't', maxRounds: 'x' }, 'option "maxRounds" must be an integer >= 1, got "x"'],
    [{ target: 't', maxRounds: 0 }, 'option "maxRounds" must be an integer >= 1, got 0'],
    [{ target: 't', maxRounds: 1.5 }, 'option "maxRounds" must be an integer >= 1, got 1.5'],
    [{ target: 't', maxRounds: Number.NaN }, 'option "maxRounds" must be an integer >= 1, got NaN'],
    [{ target: 't', downtimeLimitMs: Infinity }, 'option "downtimeLimitMs" must be a number >= 0 and <= 60000, got Infinity'],
    [{ target: 't', downtimeLimitMs: 60_001 }, 'option "downtimeLimitMs" must be a number >= 0 and <= 60000, got 60001'],
    [{ target: 't', policy: 'fast' }, 'option "policy" must be one of "downtime", "xen", got "fast"'],
    [{ target: 't', verify: 'yes' }, 'option "verify" must be a boolean, got "yes"'],
    [{ target: null }, 'option "target" must be a string, got null'],
    [{ target: 't', verify: { deep: [1, 2] } }, 'option "verify" must be a boolean, got {"deep":[1,2]}'],
    [[1], 'request body must be a JSON object, got an array'],
    [null, 'request body must be a JSON object, got null'],
    [undefined, 'request body must be a JSON object, got nothing'],
  ])('rejects %j: %s', (body, message) => {
    expect(problem(body)).toBe(message);
  });

  it('keeps long and multi-line values to one short line', () => {
    const message = problem({ target: 't', policy: `x\n${'y'.repeat(500)}` });
    expect(message).not.toContain('\n');
    expect(message.length).toBeLessThan(200);
  });

  it('rejects the own keys of JSON.parse, "__proto__" included', () => {
    expect(problem(JSON.parse('{"target":"t","__proto__":{"polluted":true}}'))).toMatch(/^unknown option "__proto__"/);
  });

  it('reads an empty schema', () => {
    expect(readOptions({}, {})).toEqual({});
    expect(() => readOptions({ a: 1 }, {})).toThrow('unknown option "a" (known: none)');
  });
});
