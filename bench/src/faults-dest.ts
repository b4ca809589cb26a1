import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { DEST_AGENT, ROOT } from './agents.js';
import { NodeChild, track } from './child.js';

/**
 * Runs one full garbage collection in the process whose inspector listens at argv[1] (Chrome DevTools protocol,
 * HeapProfiler.collectGarbage). Node 20's WebSocket client needs --experimental-websocket.
 */
const run = promisify(execFile);
const COLLECT_GARBAGE = `
const ws = new WebSocket(process.argv[1]);
ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
ws.onmessage = (event) => { if (JSON.parse(event.data).id === 1) { ws.close(); process.exit(0); } };
ws.onerror = () => process.exit(1);
`;

/**
 * The fault campaign's destination: one long-lived `dest-agent listen` with a commit journal in a directory of
 * its own and a control API (to read its incoming migrations and resolve a parked guest), killed and started
 * again on the same port and journal when a fault says so. Its threads, descriptors and RSS are read from /proc.
 */

export interface Resources {
  threads: number;
  fds: number;
  rssBytes: number;
}

/** What the destination's control API says about one incoming migration (IncomingReport, the fields read here). */
export interface IncomingRecord {
  id: string;
  status: 'receiving' | 'committed' | 'completed' | 'failed';
  error?: { code: string; message: string };
}

export class FaultDest {
  private constructor(
    readonly child: NodeChild,
    readonly port: number,
    private readonly controlUrl: string,
    private readonly inspectorUrl: string | null,
  ) {}

  /**
   * Starts `dest-agent listen` on `port` (0: a free one) with its journal in `stateDir`, and its inspector on a
   * free loopback port, so that RSS can be read after a full garbage collection: an idle process keeps a
   * departed guest's memory until its next collection, and nothing triggers one while it waits.
   */
  static async start(stateDir: string, port: number, lifetimeMs: number): Promise<FaultDest> {
    const args = ['listen', '--port', String(port), '--state-dir', stateDir, '--control-port', '0'];
    const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() };
    const child = track(new NodeChild('dest-agent', DEST_AGENT, args, { timeoutMs: lifetimeMs, cwd: ROOT, env }));
    const [, , listenPort] = await child.waitForLine(/^listening (\S+):(\d+)$/);
    const [, url] = await child.waitForLine(/^control (http:\/\/\S+)$/);
    const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(child.stderrTail)?.[1] ?? null;
    return new FaultDest(child, Number(listenPort), url!, inspector);
  }

  /** One full garbage collection in the destination; false when its inspector cannot be reached. */
  async collectGarbage(): Promise<boolean> {
    if (this.inspectorUrl === null || !this.alive) return false;
    try {
      await run(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', COLLECT_GARBAGE, this.inspectorUrl], { timeout: 30_000 });
      return true;
    } catch {
      return false;
    }
  }

  get alive(): boolean {
    return this.child.process.exitCode === null && this.child.process.signalCode === null;
  }

  /** `final digest` lines printed so far: one per guest that finished its ops here. */
  get digests(): string[] {
    return this.child.stdoutLines.flatMap((line) => /^final digest ([0-9a-f]{64})$/.exec(line)?.[1] ?? []);
  }

  /** kill -9, and wait for the exit. */
  async kill(): Promise<void> {
    this.child.kill();
    await this.child.exited;
  }

  /** Threads, open descriptors and RSS now; null once the process is gone. */
  resources(): Resources | null {
    return processResources(this.child.process.pid!);
  }

  async incoming(): Promise<IncomingRecord[]> {
    const response = await fetch(`${this.controlUrl}/migrations`);
    if (!response.ok) throw new Error(`GET /migrations: ${response.status}`);
    return ((await response.json()) as { incoming: IncomingRecord[] }).incoming;
  }

  /** The operator's decision on a guest parked here waiting for Confirm. */
  async resolve(id: string, action: 'resume' | 'discard'): Promise<IncomingRecord> {
    const response = await fetch(`${this.controlUrl}/migrations/${encodeURIComponent(id)}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    if (!response.ok) throw new Error(`POST /migrations/${id}/resolve: ${response.status} ${await response.text()}`);
    return (await response.json()) as IncomingRecord;
  }
}

/** /proc/PID/task, /proc/PID/fd and VmRSS of a process; null once it is gone. */
export function processResources(pid: number): Resources | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
    return { threads: readdirSync(`/proc/${pid}/task`).length, fds: readdirSync(`/proc/${pid}/fd`).length, rssBytes: rssKib * 1024 };
  } catch {
    return null;
  }
}

/**
 * RSS a destination may keep above its idle level once a guest has left it and a full garbage collection ran:
 * heap and allocator slack, and the last guest's memory (32 MiB in the campaign) while something still holds it.
 * Whether RSS grows from run to run is read from the campaign's trend (FaultOutput.rss), not from this bound.
 */
export const RSS_SLACK_BYTES = 64 * 2 ** 20;

/** Whether `now` is back at `idle`: no more threads and descriptors, RSS within RSS_SLACK_BYTES. */
export function atIdle(now: Resources, idle: Resources): boolean {
  return now.threads <= idle.threads && now.fds <= idle.fds && now.rssBytes <= idle.rssBytes + RSS_SLACK_BYTES;
}
