import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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
  done: Promise<Finished>;
}

/** Starts an agent process (the real CLI, as a user runs it). */
export function startAgent(bin: string, args: string[], env: Record<string, string> = {}): Agent {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let stdout = '';
  let stderr = '';
  const feed = (line: string): void => {
    lines.push(line);
    for (const listener of listeners) listener(line);
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout += `${line}\n`;
    feed(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr += `${line}\n`;
    feed(line);
  });
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, lines, onLine: (listener) => listeners.push(listener), done };
}

/** Resolves with the first line matching `pattern` (or rejects when the process ends first). */
export function waitForLine(agent: Agent, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    for (const line of agent.lines) {
      const match = pattern.exec(line);
      if (match) return resolve(match);
    }
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${agent.lines.join('\n')}`)), timeoutMs);
    agent.onLine((line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    void agent.done.then((finished) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${finished.code}) before a line matched ${pattern}:\n${finished.stderr}`));
    });
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
