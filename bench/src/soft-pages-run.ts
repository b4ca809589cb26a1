import { setTimeout as sleep } from 'node:timers/promises';
import { DEST_AGENT, ROOT, SOURCE_AGENT } from './agents.js';
import { NodeChild, track } from './child.js';
import { busiestThread, processCpu } from './cpu-ticks.js';

export type SoftPagesMode = 'default' | 'soft-pages' | 'balloon';

export interface SoftPagesCase {
  memory: string;
  diskBytes: number;
  cacheBytes: number;
  anonBytes: number;
  mode: SoftPagesMode;
  disk: string;
  /** How long the guest runs its mixed phase before the migration starts, and is watched after it. */
  settleMs: number;
  afterMs: number;
  timeoutMs: number;
}

export interface SoftPagesRun {
  mode: SoftPagesMode;
  anonBytes: number;
  ok: boolean;
  error: string | null;
  pagesSent: number | null;
  bytesOnWire: number | null;
  totalTimeMs: number | null;
  downtimeMs: number | null;
  /** CPU seconds over the migration: both agent processes, less the source's busiest thread (the flat-out vCPU). */
  agentCpuSeconds: number | null;
  sourceCpuSeconds: number | null;
  destCpuSeconds: number | null;
  vcpuCpuSeconds: number | null;
  pagesSkippedSoft: number | null;
  pagesNeverSent: number | null;
  interruptMs: number | null;
  pagesBallooned: number | null;
  opsPerSecBefore: number | null;
  /** Guest ops/s at the destination in successive 500 ms windows after activation. */
  opsPerSecAfter: number[];
  /** First window whose rate is within 10 % of the rate before (ms after activation); null if none was. */
  backWithin10PctMs: number | null;
}

const WINDOW_MS = 500;
const PAGE = 4096;

async function getJson(url: string): Promise<Record<string, any>> {
  const response = await fetch(url);
  return (await response.json()) as Record<string, any>;
}

async function opsDone(control: string): Promise<number | null> {
  try {
    const guest = await getJson(`${control}/guest`);
    return typeof guest.opsDone === 'number' ? guest.opsDone : null;
  } catch {
    return null;
  }
}

/** Ops/s over `ms` on the guest at `control`. */
async function opsRate(control: string, ms: number): Promise<number | null> {
  const a = await opsDone(control);
  const t = performance.now();
  await sleep(ms);
  const b = await opsDone(control);
  return a === null || b === null ? null : ((b - a) * 1000) / (performance.now() - t);
}

/**
 * One run of the paper's experiment: a 1-vCPU fileserver guest whose cache is warm, migrated once in the
 * given mode through the source's control API, the agents' CPU sampled from /proc around the migration, and
 * the guest's throughput watched at the destination afterwards.
 */
export async function softPagesRun(c: SoftPagesCase): Promise<SoftPagesRun> {
  const run: SoftPagesRun = {
    mode: c.mode, anonBytes: c.anonBytes, ok: false, error: null, pagesSent: null, bytesOnWire: null, totalTimeMs: null, downtimeMs: null,
    agentCpuSeconds: null, sourceCpuSeconds: null, destCpuSeconds: null, vcpuCpuSeconds: null, pagesSkippedSoft: null, pagesNeverSent: null,
    interruptMs: null, pagesBallooned: null, opsPerSecBefore: null, opsPerSecAfter: [], backWithin10PctMs: null,
  };
  const options = { timeoutMs: c.timeoutMs, cwd: ROOT, env: { LOG_LEVEL: 'warn' } };
  const dest = track(new NodeChild('dest-agent', DEST_AGENT, ['listen', '--port', '0', '--once', '--disk', c.disk, '--control-port', '0', '--run-for', `${c.afterMs + 2000}ms`], options));
  const source = track(
    new NodeChild('source-agent', SOURCE_AGENT, [
      'run', '--memory', c.memory, '--vcpus', '1', '--workload', 'fileserver', '--seed', '1', '--disk', c.disk,
      '--disk-bytes', String(c.diskBytes), '--cache-bytes', String(c.cacheBytes), '--anon-bytes', String(c.anonBytes), '--control-port', '0',
    ], options),
  );
  try {
    const [, host, port] = await dest.waitForLine(/^listening (\S+):(\d+)$/);
    const [, destControl] = await dest.waitForLine(/^control (\S+)$/);
    const [, sourceControl] = await source.waitForLine(/^control (\S+)$/);
    // The warm-up: every block the cache holds read once, then every anonymous buffer allocated.
    const warmOps = Math.min(c.diskBytes, c.cacheBytes) / PAGE + Math.floor(c.anonBytes / PAGE / 16);
    for (;;) {
      const done = await opsDone(sourceControl!);
      if (done !== null && done >= warmOps) break;
      await sleep(200);
    }
    await sleep(c.settleMs);
    const cpu0 = processCpu(source.process.pid!);
    run.opsPerSecBefore = await opsRate(sourceControl!, 2 * WINDOW_MS);
    const cpu1 = processCpu(source.process.pid!);
    const dest0 = processCpu(dest.process.pid!);
    const body = { target: `${host}:${port}`, softPages: c.mode === 'soft-pages', balloon: c.mode === 'balloon' };
    const started = await (await fetch(`${sourceControl}/migrations`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json() as { id: string };
    let report: Record<string, any> | null = null;
    while (report === null) {
      await sleep(50);
      report = (await getJson(`${sourceControl}/migrations/${started.id}`)).report ?? null;
    }
    const cpu2 = processCpu(source.process.pid!);
    const dest2 = processCpu(dest.process.pid!);
    if (report.status !== 'completed') throw new Error(`migration ${report.status}: ${report.error?.message ?? ''}`);
    for (let t = 0; t < c.afterMs; t += WINDOW_MS) {
      const rate = await opsRate(destControl!, WINDOW_MS);
      if (rate === null) break;
      run.opsPerSecAfter.push(Math.round(rate));
      if (run.backWithin10PctMs === null && run.opsPerSecBefore !== null && rate >= 0.9 * run.opsPerSecBefore) run.backWithin10PctMs = t + WINDOW_MS;
    }
    run.pagesSent = (report.rounds as { pagesSent: number }[]).reduce((sum, r) => sum + r.pagesSent, 0);
    run.bytesOnWire = report.bytesOnWire;
    run.totalTimeMs = report.totalTimeMs;
    run.downtimeMs = report.downtimeMs;
    run.pagesSkippedSoft = report.softPages?.pagesSkippedSoft ?? null;
    run.pagesNeverSent = report.softPages?.pagesNeverSent ?? null;
    run.interruptMs = report.softPages?.interruptMs ?? null;
    run.pagesBallooned = report.balloon?.pagesBallooned ?? null;
    if (cpu0 && cpu1 && cpu2 && dest0 && dest2) {
      const vcpu = busiestThread(cpu0.threads, cpu1.threads);
      const vcpuSeconds = vcpu === null ? 0 : (cpu2.threads.get(vcpu.tid) ?? 0) - (cpu1.threads.get(vcpu.tid) ?? 0);
      run.vcpuCpuSeconds = round2(vcpuSeconds);
      run.sourceCpuSeconds = round2(cpu2.total - cpu1.total - vcpuSeconds);
      run.destCpuSeconds = round2(dest2.total - dest0.total);
      run.agentCpuSeconds = round2(run.sourceCpuSeconds + run.destCpuSeconds);
    }
    run.ok = true;
  } catch (error) {
    run.error = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  } finally {
    source.kill();
    dest.kill();
    await Promise.allSettled([source.exited, dest.exited]);
  }
  return run;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
