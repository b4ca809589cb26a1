import type { Argv } from 'yargs';
import { readControlToken, type ControlAccess } from '../control/access.js';

/** The flags of a control API's access (README, "The control API"). */
export interface ControlAccessArguments {
  controlTokenFile?: string;
  controlAllowHost?: string;
}

/** Adds `--control-token-file` (and, for a server, `--control-allow-host`) to a command. */
export function withControlAccessOptions<T>(command: Argv<T>, role: 'server' | 'client'): Argv<T> {
  const withToken = command.option('control-token-file', {
    type: 'string',
    describe: role === 'server' ? 'require this bearer token (first line of FILE) on every control API request' : 'bearer token of the control API (first line of FILE)',
  });
  if (role === 'client') return withToken as Argv<T>;
  return withToken.option('control-allow-host', {
    type: 'string',
    describe: 'comma-separated host names the control API answers to besides localhost and IP addresses',
  }) as Argv<T>;
}

/**
 * The access the flags describe.
 * @throws BadArgumentError for an unreadable token file or a token too short or long
 */
export function loadControlAccess(args: ControlAccessArguments): ControlAccess {
  const allowedHosts = (args.controlAllowHost ?? '').split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  return {
    ...(args.controlTokenFile === undefined ? {} : { token: readControlToken(args.controlTokenFile) }),
    ...(allowedHosts.length === 0 ? {} : { allowedHosts }),
  };
}
