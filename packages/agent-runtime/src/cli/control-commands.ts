import type { Argv } from 'yargs';
import { ControlClient } from '../control/control-client.js';
import { loadControlAccess, withControlAccessOptions } from './control-access-options.js';

/** The flags of a command that acts on one migration through an agent's control API. */
export interface MigrationCommandArguments {
  control: string;
  controlTokenFile?: string;
  id: string;
}

/** Adds `--control URL`, `--id ID` and `--control-token-file` to a command (`resolve`, `resume`, `discard`, `recover`). */
export function withMigrationCommandOptions<T>(command: Argv<T>, controlDescribe: string, idDescribe = 'the migration id'): Argv<T> {
  return withControlAccessOptions(command, 'client')
    .option('control', { type: 'string', demandOption: true, describe: controlDescribe })
    .option('id', { type: 'string', demandOption: true, describe: idDescribe }) as unknown as Argv<T>;
}

/** The client of the agent at `--control`, with its bearer token when `--control-token-file` is given. */
export function controlClient(args: { control: string; controlTokenFile?: string }): ControlClient {
  const { token } = loadControlAccess(args);
  return new ControlClient(args.control, token === undefined ? {} : { token });
}

/**
 * POST /migrations/:id/ACTION on the agent at `--control`; resolves with its answer.
 * @throws ControlClientError when the agent refuses
 */
export function postToMigration<T = unknown>(args: MigrationCommandArguments, action: string, body: unknown = {}): Promise<T> {
  return controlClient(args).post<T>(`/migrations/${encodeURIComponent(args.id)}/${action}`, body);
}

/** Prints an agent's answer as indented JSON on stdout; the command's exit status (0). */
export function printJson(answer: unknown): number {
  process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  return 0;
}
