import yargs, { type Argv } from 'yargs';
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
    if (error instanceof UsageError || USAGE_CODES.has((error as { code?: string }).code ?? '')) {
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      return 2;
    }
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: ${message}${typeof code === 'string' ? ` (${code})` : ''}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

class UsageError extends Error {}

/** Errors that mean "the command line asked for something impossible": exit 2, like a wrong flag. */
const USAGE_CODES = new Set(['LM_ERR_BAD_ARGUMENT', 'LM_ERR_BAD_WORKLOAD', 'LM_ERR_BAD_GEOMETRY']);
