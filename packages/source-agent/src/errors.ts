import { GUEST_ERROR_CODES, GuestError } from '@livemig/guest';
import { LOCAL_ERROR_CLASSES, MigrationError, WIRE_ERROR_CLASSES, type MigrationErrorClass } from '@livemig/protocol';
import { CONTROL_CLIENT_ERRORS, CONTROL_ERRORS, ControlClientError, controlError, type ControlErrorCode } from '@livemig/agent-runtime';

/** LM_ERR_BUSY: The guest cannot start a migration now (one is in flight, or the guest is gone). */
export class HostBusyError extends MigrationError {
  constructor(message = 'the guest cannot start a migration now', options?: { cause?: unknown }) {
    super('LM_ERR_BUSY', message, options);
    this.name = 'HostBusyError';
  }
}

/**
 * LM_ERR_POSTCOPY_FAILED: a post-copy migration ended without completing after the switch. The guest's state is
 * split between the hosts (CPU state and new writes there, unsent pages here), so neither side may resume it
 * alone: a lost connection only pauses it (postcopy-paused) until it recovers; it ends with this code when the
 * operator discards the paused copy, or when the automatic retries are spent and no operator can act.
 */
export class PostcopyFailedError extends MigrationError {
  constructor(message = 'post-copy failed after the switch; the guest stays parked here and is never resumed', options?: { cause?: unknown }) {
    super('LM_ERR_POSTCOPY_FAILED', message, options);
    this.name = 'PostcopyFailedError';
  }
}

/** The local failures this package raises, each class with its own code. */
export const SOURCE_AGENT_ERROR_CLASSES: ReadonlyMap<string, MigrationErrorClass> = new Map<string, MigrationErrorClass>([
  ['LM_ERR_BUSY', HostBusyError],
  ['LM_ERR_POSTCOPY_FAILED', PostcopyFailedError],
]);

/**
 * The registries, in the order docs/ERRORS.md lists them: `wire` codes cross in Abort and Refuse (protocol);
 * `local` failures are this agent's own and never adopted from a peer (protocol, source-agent); `guest` codes
 * come from the guest machine; `control` codes from the control API's server and client (agent-runtime).
 */
export type ErrorRegistryName = 'wire' | 'local' | 'guest' | 'control';

export interface ErrorCodeEntry {
  readonly registry: ErrorRegistryName;
  /** The package that declares the code: the one owner of its string. */
  readonly package: string;
  readonly code: string;
  /** The name of the class that carries it. */
  readonly className: string;
  /** The message of an error of this code thrown without one. */
  readonly message: string;
}

/**
 * Every error code of every package, each once, with the package that owns it: the one list that the registry
 * test and docs/ERRORS.md walk. Built on each call (it constructs one error per code); not for a hot path.
 * This package is the one that depends on all the others (dest-agent adds no codes of its own).
 */
export function errorRegistry(): ErrorCodeEntry[] {
  const entries: ErrorCodeEntry[] = [];
  const add = (registry: ErrorRegistryName, pkg: string, error: Error & { code: string }): void => {
    entries.push({ registry, package: pkg, code: error.code, className: error.name, message: error.message });
  };
  for (const ErrorClass of WIRE_ERROR_CLASSES.values()) add('wire', '@livemig/protocol', new ErrorClass());
  for (const ErrorClass of LOCAL_ERROR_CLASSES.values()) add('local', '@livemig/protocol', new ErrorClass());
  for (const ErrorClass of SOURCE_AGENT_ERROR_CLASSES.values()) add('local', '@livemig/source-agent', new ErrorClass());
  for (const code of GUEST_ERROR_CODES) add('guest', '@livemig/guest', new GuestError(code));
  for (const code of Object.keys(CONTROL_ERRORS) as ControlErrorCode[]) add('control', '@livemig/agent-runtime', controlError(code));
  for (const [code, { message }] of Object.entries(CONTROL_CLIENT_ERRORS)) {
    add('control', '@livemig/agent-runtime', new ControlClientError(0, code, message));
  }
  return entries;
}
