import { describe, expect, it } from 'vitest';
import { GUEST_ERROR_CODES, GuestError, GuestErrorCode, type GuestErrorCodeValue } from '@livemig/guest';

/** Every code a GuestError may carry, with its key in GuestErrorCode and its default message. */
const table: Array<[keyof typeof GuestErrorCode, GuestErrorCodeValue, string]> = [
  ['BAD_WORKLOAD', 'LM_ERR_BAD_WORKLOAD', 'bad workload'],
  ['BAD_GEOMETRY', 'LM_ERR_BAD_GEOMETRY', 'bad guest geometry'],
  ['BAD_CPU_STATE', 'LM_ERR_BAD_CPU_STATE', 'bad CPU state'],
  ['VCPU_CRASHED', 'LM_ERR_VCPU_CRASHED', 'a vCPU crashed'],
  ['NOT_PARKED', 'LM_ERR_NOT_PARKED', 'the guest is not parked'],
  ['DISK', 'LM_ERR_DISK', 'virtual disk unusable'],
  ['BAD_HINT', 'LM_ERR_BAD_HINT', 'bad soft-page hint'],
  ['BAD_ARGUMENT', 'LM_ERR_BAD_ARGUMENT', 'bad argument'],
];

describe('guest error codes', () => {
  it.each(table)('GuestErrorCode.%s is %s; a GuestError with it has its name, code and default message "%s"', (key, code, message) => {
    expect(GuestErrorCode[key]).toBe(code);
    const err = new GuestError(code);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('GuestError');
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    const cause = new Error('root');
    const withCause = new GuestError(code, 'custom', { cause });
    expect(withCause.message).toBe('custom');
    expect(withCause.cause).toBe(cause);
  });

  it('GuestErrorCode lists exactly the codes of the table, no two keys sharing one', () => {
    expect(Object.keys(GuestErrorCode).sort()).toEqual(table.map(([key]) => key).sort());
    expect(new Set(Object.values(GuestErrorCode)).size).toBe(table.length);
  });

  it('GUEST_ERROR_CODES are the codes this package owns: all but LM_ERR_BAD_ARGUMENT, which protocol owns', () => {
    expect([...GUEST_ERROR_CODES].sort()).toEqual(
      table.map(([, code]) => code).filter((code) => code !== 'LM_ERR_BAD_ARGUMENT').sort(),
    );
  });
});
