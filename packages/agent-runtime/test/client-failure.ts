import { expect } from 'vitest';
import { ControlClientError } from '../dist/control/errors.js';

/** The ControlClientError a client call rejected with; fails the test if it resolved or threw anything else. */
export async function clientFailure(promise: Promise<unknown>): Promise<ControlClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControlClientError);
  return err as ControlClientError;
}
