import yargs, { type Argv } from 'yargs';
import { errorSummary } from '../error-summary.js';
import { createLogger, type Logger } from './logger.js';

export interface CliContext {
  log: Logger;
  /** Fires on the first SIGINT or SIGTERM; a second one exits at once. */
  signal: AbortSignal;
  setExitCode(code: number): void;
}

/**
 * Runs a yargs program with the project's CLI contract: a wrong flag or value prints one line naming the
 * cause and exits 2; a failure prints one line with its error code and exits 1.
 */
export async function runCli(
  name: string,
  argv: string[],
  define: (parser: Argv, context: CliContext) => Argv,
): Promise<number> {
  let exitCode = 0;
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const context: CliContext = {
    log: createLogger(name),
    signal: stop.signal,
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  const parser = define(yargs(argv).scriptName(name), context)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .exitProcess(false)
    .version(false)
    .help()
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    });
  try {
    await parser.parseAsync();
    return exitCode;
  } catch (error) {
    const { code, message } = errorSummary(error);
    if (error instanceof UsageError || USAGE_CODES.has(code)) {
      process.stderr.write(`${name}: ${message}\n`);
      return 2;
    }
    process.stderr.write(`${name}: ${message} (${code})\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

class UsageError extends Error {}

/**
 * Error codes that mean "the command line asked for something impossible": exit 2, like a wrong flag.
 * LM_ERR_BAD_ARGUMENT is protocol's; the other two are the guest's, named here by their strings because this
 * package does not depend on @livemig/guest (the registry test in source-agent checks they are declared).
 */
export const USAGE_CODES: ReadonlySet<string> = new Set(['LM_ERR_BAD_ARGUMENT', 'LM_ERR_BAD_WORKLOAD', 'LM_ERR_BAD_GEOMETRY']);
