import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Logs go to stderr so that stdout carries only the lines other programs read
 * ("listening HOST:PORT", "final digest HEX"). JSON when stderr is not a terminal, readable when it is.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  if (process.stderr.isTTY) {
    return pino(
      { name, level },
      pretty({ destination: 2, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }),
    );
  }
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that discards everything (library use without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
