/**
 * The agents' logs as objects (pino's own test style: a sink that parses NDJSON, so that tests assert on
 * `msg` and fields, not on the text of a line). An agent whose stderr is not a terminal logs one JSON
 * object per line (packages/agent-runtime/src/cli/logger.ts); every other stderr line, such as the
 * one-line CLI error `source-agent: ... (LM_ERR_...)`, is not a log record and the sink leaves it out.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Feed } from './wait.js';

/** pino's numeric levels. */
export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** One log line: pino's level, time, pid, hostname, logger name and message, and the fields logged with it. */
export interface LogRecord {
  level: number;
  time: number;
  name?: string;
  msg?: string;
  [field: string]: unknown;
}

/**
 * What a record must contain: every field given must match, a nested object field by field (so
 * `{ err: { code: 'LM_ERR_TIMEOUT' } }` matches whatever else `err` carries), a RegExp against a string,
 * anything else by deep equality.
 */
export type LogPattern = Record<string, unknown>;

/** The record a line holds, or undefined for a line that is not a pino record. */
export function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const record = value as Partial<LogRecord> | null;
  return record !== null && typeof record === 'object' && typeof record.level === 'number' && typeof record.time === 'number'
    ? (record as LogRecord)
    : undefined;
}

export function matchesLog(record: LogRecord, pattern: LogPattern): boolean {
  return matches(record, pattern);
}

function matches(actual: unknown, expected: unknown): boolean {
  if (expected instanceof RegExp) return typeof actual === 'string' && expected.test(actual);
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) return false;
    return Object.entries(expected).every(([key, value]) => matches(actual[key], value));
  }
  return isDeepStrictEqual(actual, expected);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof RegExp);
}

/**
 * Collects log records. Feed it whole lines (`line`, as an agent's stderr is read) or raw NDJSON (`write`,
 * so it also serves as a pino destination: `pino(sink)`); wait on it with nextMatch (it is a Feed).
 */
export class LogSink implements Feed<LogRecord> {
  readonly records: LogRecord[] = [];
  readonly ended: Promise<string> | undefined;
  private readonly listeners = new Set<(record: LogRecord) => void>();
  private partial = '';

  constructor(ended?: Promise<string>) {
    this.ended = ended;
  }

  get seen(): readonly LogRecord[] {
    return this.records;
  }

  /** NDJSON in chunks of any size; a line cut by a chunk boundary waits for its end. */
  write(chunk: string | Buffer): boolean {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
    return true;
  }

  /** One line of output; kept if it is a log record. */
  line(text: string): void {
    const record = parseLogLine(text);
    if (record === undefined) return;
    this.records.push(record);
    for (const listener of this.listeners) listener(record);
  }

  subscribe(listener: (record: LogRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The records so far that match `pattern`, in the order they were logged. */
  filter(pattern: LogPattern): LogRecord[] {
    return this.records.filter((record) => matchesLog(record, pattern));
  }

  find(pattern: LogPattern): LogRecord | undefined {
    return this.records.find((record) => matchesLog(record, pattern));
  }
}
