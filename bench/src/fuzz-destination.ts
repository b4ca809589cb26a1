import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEST_AGENT, ROOT } from './agents.js';
import { NodeChild, track } from './child.js';

/** How often the destination's resident memory is read from /proc. */
const RSS_SAMPLE_MS = 100;

export interface RssSummary {
  idleBytes: number;
  peakBytes: number;
  endBytes: number;
  /** The median of each tenth of the run's samples, in order: a leak climbs with the inputs, a high-water mark levels off. */
  byTenthBytes: number[];
  samples: number;
}

/**
 * A destination agent under fuzzing, as a process of its own (`dest-agent listen` with a control port): its
 * main address, its resident memory sampled from /proc/PID/status (VmRSS) the whole time, and every
 * warning or error it logs, counted by the error code it carries.
 */
export class FuzzedDestination {
  readonly child: NodeChild;
  address = { host: '127.0.0.1', port: 0 };
  #control = '';
  readonly #rss: number[] = [];
  readonly #poll: NodeJS.Timeout;
  /** Codes of the warnings and errors it logged ("none" for one without a code). */
  readonly loggedCodes: Record<string, number> = {};
  /** Logged errors whose code is not one of ours (their messages, the first few). */
  readonly untypedLogs: string[] = [];
  untypedLogCount = 0;

  constructor(readonly limitBytes: number, extraArgs: string[], timeoutMs: number) {
    const args = ['listen', '--port', '0', '--host', '127.0.0.1', '--control-port', '0', '--max-memory', String(limitBytes), ...extraArgs];
    this.child = track(new NodeChild('dest-agent', DEST_AGENT, args, { timeoutMs, cwd: ROOT, env: { LOG_LEVEL: 'warn' } }));
    createInterface({ input: this.child.process.stderr! }).on('line', (line) => this.#onLog(line));
    this.#poll = setInterval(() => this.#sample(), RSS_SAMPLE_MS);
    void this.child.exited.finally(() => clearInterval(this.#poll));
  }

  async started(): Promise<void> {
    const [, host, port] = (await this.child.waitForLine(/^listening (\S+):(\d+)$/))!;
    this.address = { host: host!, port: Number(port) };
    this.#control = (await this.child.waitForLine(/^control (http:\/\/\S+)$/))[1]!;
  }

  get alive(): boolean {
    return this.child.process.exitCode === null && this.child.process.signalCode === null;
  }

  /** Samples taken so far; `mark()` tells where a phase began, for `rssSince`. */
  mark(): number {
    return this.#rss.length;
  }

  rssSince(mark: number): number[] {
    return this.#rss.slice(mark);
  }

  /** Bytes reserved now (the admission budget's limit minus what is free), from GET /status. */
  async reservedBytes(): Promise<number> {
    const status = (await this.#get('/status')) as { reservations: { limitBytes: number; freeBytes: number } };
    return status.reservations.limitBytes - status.reservations.freeBytes;
  }

  /** Incoming migrations still in progress (status `receiving`), from GET /migrations. */
  async receiving(): Promise<number> {
    const body = (await this.#get('/migrations')) as { incoming: { status: string }[] };
    return body.incoming.filter((entry) => entry.status === 'receiving').length;
  }

  stop(): void {
    clearInterval(this.#poll);
    this.child.kill();
  }

  async #get(path: string): Promise<unknown> {
    const response = await fetch(`${this.#control}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
    return response.json();
  }

  #sample(): void {
    try {
      const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.child.process.pid}/status`, 'utf8'));
      if (kib) this.#rss.push(Number(kib[1]) * 1024);
    } catch {
      // Exited: the last sample stands.
    }
  }

  #onLog(line: string): void {
    let record: { level?: number; err?: { code?: unknown; message?: unknown }; msg?: string };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      record = { level: 50, err: { message: line } };
    }
    if ((record.level ?? 0) < 40) return;
    const code = typeof record.err?.code === 'string' ? record.err.code : 'none';
    this.loggedCodes[code] = (this.loggedCodes[code] ?? 0) + 1;
    if (record.err !== undefined && !/^LM_ERR_[A-Z_]+$/.test(code)) {
      this.untypedLogCount++;
      if (this.untypedLogs.length < 10) this.untypedLogs.push(`${record.msg ?? ''}: ${String(record.err.message ?? '')}`.slice(0, 300));
    }
  }
}

export function summariseRss(idle: number[], run: number[], end: number[]): RssSummary {
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const tenth = Math.max(1, Math.ceil(run.length / 10));
  const byTenthBytes = Array.from({ length: Math.ceil(run.length / tenth) }, (_, i) => median(run.slice(i * tenth, (i + 1) * tenth)));
  return { idleBytes: median(idle), peakBytes: Math.max(0, ...run, ...end), endBytes: median(end), byTenthBytes, samples: idle.length + run.length + end.length };
}
