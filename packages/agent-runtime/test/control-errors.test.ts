import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, LOCAL_ERROR_CODES } from '@livemig/protocol';
import { ControlClient } from '../dist/control/control-client.js';
import {
  CONTROL_CLIENT_ERRORS,
  CONTROL_ERRORS,
  ControlClientError,
  ControlError,
  controlError,
  toControlError,
  type ControlErrorCode,
} from '../dist/control/errors.js';
import { ControlServer } from '../dist/control/http-server.js';
import { clientFailure } from './client-failure.js';

/** The control API server's own codes: HTTP status and default message. */
const table: Array<[ControlErrorCode, number, string]> = [
  ['LM_ERR_BAD_REQUEST', 400, 'bad request'],
  ['LM_ERR_UNAUTHORIZED', 401, 'unauthorized'],
  ['LM_ERR_FORBIDDEN', 403, 'forbidden'],
  ['LM_ERR_NOT_FOUND', 404, 'not found'],
  ['LM_ERR_METHOD_NOT_ALLOWED', 405, 'method not allowed'],
  ['LM_ERR_CONFLICT', 409, 'conflicts with the state of the agent'],
  ['LM_ERR_PAYLOAD_TOO_LARGE', 413, 'request body too large'],
  ['LM_ERR_UNSUPPORTED_MEDIA_TYPE', 415, 'request body must be JSON'],
  ['LM_ERR_TOO_MANY_CLIENTS', 429, 'too many clients'],
  ['LM_ERR_TOO_MANY_LOGINS', 429, 'too many wrong logins'],
];

/** The client's own codes (its other ones, LM_ERR_CONNECT and LM_ERR_TIMEOUT, are protocol's). */
const clientTable: Array<[string, string]> = [['LM_ERR_BAD_RESPONSE', 'the control API sent an answer it never sends']];

let server: ControlServer;
let client: ControlClient;

beforeAll(async () => {
  server = new ControlServer([
    ...table.map(([code]) => ({ method: 'GET' as const, path: `/${code}`, handler: () => { throw controlError(code); } })),
    { method: 'GET', path: '/crash', handler: () => { throw new Error('boom'); } },
  ]);
  const { host, port } = await server.listen(0);
  client = new ControlClient(`http://${host}:${port}`);
});

afterAll(async () => {
  await server.close();
});

describe('control API error codes', () => {
  it.each(table)('controlError(%s) is a ControlError with status %i and default message "%s"', (code, status, message) => {
    expect(CONTROL_ERRORS[code]).toEqual({ status, message });
    const err = controlError(code);
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ name: 'ControlError', status, code, message, headers: {} });
    const cause = new Error('root');
    const custom = controlError(code, 'custom', { cause, headers: { allow: 'GET' } });
    expect(custom).toMatchObject({ status, code, message: 'custom', headers: { allow: 'GET' } });
    expect(custom.cause).toBe(cause);
    // A ControlError a handler throws is answered as it is.
    expect(toControlError(custom)).toBe(custom);
  });

  it.each(table)('%s round-trips: server answer, then the client\'s ControlClientError with its status, code and message', async (code, status, message) => {
    expect(await clientFailure(client.get(`/${code}`))).toMatchObject({ name: 'ControlClientError', status, code, message });
  });

  it('an error without a code is answered 500 LM_ERR_INTERNAL, and the client sees just that', async () => {
    expect(await clientFailure(client.get('/crash'))).toMatchObject({ status: 500, code: 'LM_ERR_INTERNAL', message: 'boom' });
  });

  it.each(clientTable)('the client\'s own %s has the default message "%s"', (code, message) => {
    expect(CONTROL_CLIENT_ERRORS[code as keyof typeof CONTROL_CLIENT_ERRORS]).toEqual({ message });
  });

  it('the tables list exactly these codes, no code twice and none of protocol\'s', () => {
    expect(Object.keys(CONTROL_ERRORS).sort()).toEqual(table.map(([code]) => code).sort());
    expect(Object.keys(CONTROL_CLIENT_ERRORS).sort()).toEqual(clientTable.map(([code]) => code).sort());
    const all = [...Object.keys(CONTROL_ERRORS), ...Object.keys(CONTROL_CLIENT_ERRORS), ...ERROR_CODES, ...LOCAL_ERROR_CODES];
    expect(new Set(all).size).toBe(all.length);
  });

  it('no two server codes share an HTTP status, but for 429: its two codes name the limit that was hit', () => {
    const statuses = Object.values(CONTROL_ERRORS).map(({ status }) => status).filter((status) => status !== 429);
    expect(new Set(statuses).size).toBe(statuses.length);
    expect(Object.keys(CONTROL_ERRORS).filter((code) => CONTROL_ERRORS[code as ControlErrorCode].status === 429).sort()).toEqual(['LM_ERR_TOO_MANY_CLIENTS', 'LM_ERR_TOO_MANY_LOGINS']);
  });
});
