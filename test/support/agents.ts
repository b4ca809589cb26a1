import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LogSink, matchesLog, type LogPattern, type LogRecord } from './log-sink.js';
import { DEFAULT_WAIT_MS, nextMatch, type Feed } from './wait.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SOURCE_BIN = join(ROOT, 'packages/source-agent/bin/source-agent.js');
export const DEST_BIN = join(ROOT, 'packages/dest-agent/bin/dest-agent.js');

export interface Finished {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Agent {
  child: ChildProcess;
  /** Lines of stdout and stderr as they arrive. */
  lines: string[];
  onLine(listener: (line: string) => void): void;
  /** The stdout lines: what the agents print for other programs to read. */
  stdout: Feed<string>;
  /** The log records among the stderr lines (pino NDJSON), as objects. */
  logs: LogSink;
  done: Promise<Finished>;
}

/**
 * Starts an agent process (the real CLI, as a user runs it). `wrap` runs it through another command, e.g.
 * `['ip', 'netns', 'exec', NAME]` (which execs node in place, so `child` is still the agent).
 */
export function startAgent(bin: string, args: string[], env: Record<string, string> = {}, wrap: string[] = []): Agent {
  const [command, ...prefix] = [...wrap, process.execPath];
  const child = spawn(command!, [...prefix, bin, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let stdout = '';
  let stderr = '';
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  const logs = new LogSink(done.then((finished) => `the process exited (${finished.code}):\n${finished.stderr}`));
  const feed = (line: string): void => {
    lines.push(line);
    for (const listener of listeners) listener(line);
  };
  const stdoutLines: string[] = [];
  const stdoutListeners = new Set<(line: string) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout += `${line}\n`;
    stdoutLines.push(line);
    for (const listener of stdoutListeners) listener(line);
    feed(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr += `${line}\n`;
    feed(line);
    logs.line(line);
  });
  const stdoutFeed: Feed<string> = {
    seen: stdoutLines,
    subscribe(listener) {
      stdoutListeners.add(listener);
      return () => stdoutListeners.delete(listener);
    },
    ended: logs.ended!,
  };
  return { child, lines, onLine: (listener) => listeners.push(listener), stdout: stdoutFeed, logs, done };
}

/**
 * Resolves with the first stdout line matching `pattern`: what the agents print for other programs
 * ("listening HOST:PORT", "control URL"); wait for a log record with waitForLog.
 * @throws Error when the process ends or the deadline passes first
 */
export function waitForLine(agent: Agent, pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpExecArray> {
  return nextMatch(agent.stdout, (line) => pattern.exec(line) ?? undefined, {
    timeoutMs,
    what: `stdout line matching ${pattern}`,
    context: () => agent.lines.join('\n'),
  });
}

/**
 * Resolves with the first record the agent logs that matches `pattern` (see LogPattern), e.g.
 * `{ msg: 'pre-copy round sent', round: 1 }`.
 * @throws Error when the process ends or the deadline passes first
 */
export function waitForLog(agent: Agent, pattern: LogPattern, timeoutMs = DEFAULT_WAIT_MS): Promise<LogRecord> {
  return nextMatch(agent.logs, (record) => (matchesLog(record, pattern) ? record : undefined), {
    timeoutMs,
    what: `log record matching ${JSON.stringify(pattern, (_, v: unknown) => (v instanceof RegExp ? String(v) : v))}`,
    context: () => agent.lines.join('\n'),
  });
}

/** Starts `dest-agent listen --port 0 ...` and waits for its address. */
export async function startDest(args: string[]): Promise<Agent & { address: string; port: number }> {
  const agent = startAgent(DEST_BIN, ['listen', '--port', '0', ...args]);
  const match = await waitForLine(agent, /^listening (\S+):(\d+)$/);
  return Object.assign(agent, { address: `${match[1]}:${match[2]}`, port: Number(match[2]) });
}

export function runSource(args: string[]): Agent {
  return startAgent(SOURCE_BIN, ['run', ...args]);
}

export function finalDigestOf(output: string): string | undefined {
  return /^final digest ([0-9a-f]{64})$/m.exec(output)?.[1];
}

export function tempDir(): { path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'livemig-test-'));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function readJson<T = Record<string, any>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Runs a guest with no migration and returns its final digest: the oracle's expected value. */
export async function oracleDigest(args: string[]): Promise<string> {
  const finished = await runSource(args).done;
  const digest = finalDigestOf(finished.stdout);
  if (finished.code !== 0 || !digest) throw new Error(`baseline run failed (${finished.code}):\n${finished.stderr}`);
  return digest;
}

/**
 * One migration between two real agents: a destination with --once and a source that runs `guestArgs` and
 * migrates with `sourceArgs`. Both must exit 0; returns their outputs and both JSON reports (`name`-source.json
 * and `name`-dest.json in `dir`).
 */
export async function migrateOnce(
  dir: { file(name: string): string },
  name: string,
  guestArgs: string[],
  sourceArgs: string[],
): Promise<{ sourceDone: Finished; destDone: Finished; report: Record<string, any>; received: Record<string, any> }> {
  const destReport = dir.file(`${name}-dest.json`);
  const sourceReport = dir.file(`${name}-source.json`);
  const dest = await startDest(['--once', '--report', destReport]);
  const source = runSource([...guestArgs, ...sourceArgs, '--migrate-to', dest.address, '--report', sourceReport]);
  const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
  if (sourceDone.code !== 0) throw new Error(`source exited ${sourceDone.code}:\n${sourceDone.stderr}`);
  if (destDone.code !== 0) throw new Error(`destination exited ${destDone.code}:\n${destDone.stderr}`);
  return { sourceDone, destDone, report: readJson(sourceReport), received: readJson(destReport) };
}
