import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** How often a child's peak RSS (VmHWM) is sampled when its own report does not carry one. */
const RSS_POLL_MS = 25;
/** Kept from a child's stderr, for the error message when it fails. */
const STDERR_TAIL_CHARS = 4000;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A Node child process (spawned directly, no shell, so its pid is the process measured) with its stdout read
 * line by line, its stderr tail kept for errors, and its peak RSS sampled from /proc (Linux) as a fallback.
 */
export class NodeChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ChildExit>;
  readonly #lines: string[] = [];
  readonly #waiters: { match: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  #stderr = '';
  #peakRss: number | null = null;
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;

  /** `wrap`: a command prefix that execs node in the end (e.g. `ip netns exec NAME`), so the pid is still node's. */
  constructor(name: string, script: string, args: string[], options: { timeoutMs: number; cwd?: string; env?: Record<string, string>; wrap?: string[] }) {
    this.name = name;
    const wrap = options.wrap ?? [];
    const command = [...wrap, process.execPath, script, ...args];
    this.process = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...options.env },
    });
    createInterface({ input: this.process.stdout! }).on('line', (line) => this.#onLine(line));
    this.process.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL_CHARS);
    });
    this.#poll = setInterval(() => this.#sampleRss(), RSS_POLL_MS);
    this.#timer = setTimeout(() => {
      this.#stderr += `\n[bench] ${name} killed after ${options.timeoutMs} ms`;
      this.process.kill('SIGKILL');
    }, options.timeoutMs);
    this.exited = new Promise((resolve, reject) => {
      this.process.once('error', reject);
      this.process.once('close', (code, signal) => {
        clearTimeout(this.#timer);
        clearInterval(this.#poll);
        resolve({ code, signal });
      });
    });
  }

  /** Peak RSS (VmHWM) as last sampled while the child ran; null where /proc is not available. */
  get peakRssBytes(): number | null {
    return this.#peakRss;
  }

  /** Every stdout line so far. */
  get stdoutLines(): readonly string[] {
    return this.#lines;
  }

  get stderrTail(): string {
    return this.#stderr.trim();
  }

  /** Resolves with the first stdout line (past or future) matching `match`; rejects if the child exits first. */
  waitForLine(match: RegExp): Promise<RegExpExecArray> {
    for (const line of this.#lines) {
      const m = match.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ match, resolve });
      void this.exited.then((exit) =>
        reject(new Error(`${this.name} exited (${describeExit(exit)}) before printing ${match}: ${this.stderrTail || 'no stderr'}`)),
      );
    });
  }

  /** Waits for the exit and throws, with the stderr tail, unless the status is 0. */
  async succeeded(): Promise<void> {
    const exit = await this.exited;
    if (exit.code !== 0) throw new Error(`${this.name} failed (${describeExit(exit)}): ${this.stderrTail || 'no stderr'}`);
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }

  #onLine(line: string): void {
    this.#lines.push(line);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      const m = waiter.match.exec(line);
      if (m) {
        this.#waiters.splice(i, 1);
        waiter.resolve(m);
      }
    }
  }

  #sampleRss(): void {
    try {
      const status = readFileSync(`/proc/${this.process.pid}/status`, 'utf8');
      const kib = /^VmHWM:\s+(\d+) kB/m.exec(status);
      if (kib) this.#peakRss = Math.max(this.#peakRss ?? 0, Number(kib[1]) * 1024);
    } catch {
      // The child is gone or this is not Linux; keep the last sample.
    }
  }
}

/** Whether `child` has exited within `ms` (it is left running when not). */
export async function exitedWithin(child: NodeChild, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([child.exited, late]);
  clearTimeout(timer);
  return outcome !== 'late';
}

/** Waits up to `ms` for `child` to exit; past that, kills it and throws (it counts as hung). */
export async function exitsWithin(child: NodeChild, ms: number): Promise<void> {
  if (await exitedWithin(child, ms)) return;
  child.kill();
  throw new Error(`${child.name} did not exit within ${ms / 1000} s of the other agent`);
}

export function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `status ${exit.code}`;
}

/** Every child a benchmark started, so that an interrupted run leaves no agent behind. */
const live = new Set<NodeChild>();

export function track(child: NodeChild): NodeChild {
  live.add(child);
  void child.exited.finally(() => live.delete(child)).catch(() => undefined);
  return child;
}

export function killAll(): void {
  for (const child of live) child.kill();
}
