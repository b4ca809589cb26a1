import { setTimeout as sleep } from 'node:timers/promises';
import { DEST_AGENT, ROOT, SOURCE_AGENT } from './agents.js';
import { NodeChild, track } from './child.js';
import { busyThreads, cpuByPhase, sampleCpu, splitCpu, type CpuSample, type CpuSplit } from './cpu-breakdown.js';

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
  /** CPU seconds over the migration: both agent processes, less the guest's vCPU threads on either side. */
  agentCpuSeconds: number | null;
  /** The same with the destination's vCPU left in (it runs from activation until the report is seen): the earlier measure. */
  agentCpuSecondsWithDestVcpu: number | null;
  sourceCpuSeconds: number | null;
  destCpuSeconds: number | null;
  vcpuCpuSeconds: number | null;
  /** Each side's CPU over the migration by thread, and by phase of the source's report (cpu-breakdown.ts). */
  source: CpuSplit | null;
  dest: CpuSplit | null;
  sourceByPhase: Record<string, number> | null;
  destByPhase: Record<string, number> | null;
  /** The agents' own `cpuMs` in their reports (the source's counts its vCPU; the destination's stops at activation). */
  reportCpuMs: { source: number | null; dest: number | null };
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
/** CPU samples of both agents while the migration runs (and the report is polled). */
const SAMPLE_MS = 50;
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
    agentCpuSeconds: null, agentCpuSecondsWithDestVcpu: null, sourceCpuSeconds: null, destCpuSeconds: null, vcpuCpuSeconds: null,
    source: null, dest: null, sourceByPhase: null, destByPhase: null, reportCpuMs: { source: null, dest: null }, pagesSkippedSoft: null, pagesNeverSent: null,
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
    const sourcePid = source.process.pid!;
    const destPid = dest.process.pid!;
    const cpu0 = sampleCpu(sourcePid);
    run.opsPerSecBefore = await opsRate(sourceControl!, 2 * WINDOW_MS);
    const sourceSamples = [sampleCpu(sourcePid)];
    const destSamples = [sampleCpu(destPid)];
    const body = { target: `${host}:${port}`, softPages: c.mode === 'soft-pages', balloon: c.mode === 'balloon' };
    const askedAt = performance.now();
    const started = await (await fetch(`${sourceControl}/migrations`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json() as { id: string };
    let report: Record<string, any> | null = null;
    while (report === null) {
      await sleep(SAMPLE_MS);
      sourceSamples.push(sampleCpu(sourcePid));
      destSamples.push(sampleCpu(destPid));
      report = (await getJson(`${sourceControl}/migrations/${started.id}`)).report ?? null;
    }
    if (report.status !== 'completed') throw new Error(`migration ${report.status}: ${report.error?.message ?? ''}`);
    for (let t = 0; t < c.afterMs; t += WINDOW_MS) {
      const rate = await opsRate(destControl!, WINDOW_MS);
      if (t === 0) destSamples.push(sampleCpu(destPid));
      if (rate === null) break;
      run.opsPerSecAfter.push(Math.round(rate));
      if (run.backWithin10PctMs === null && run.opsPerSecBefore !== null && rate >= 0.9 * run.opsPerSecBefore) run.backWithin10PctMs = t + WINDOW_MS;
    }
    run.reportCpuMs = { source: report.cpuMs ?? null, dest: (await destReport(destControl!))?.cpuMs ?? null };
    run.pagesSent = (report.rounds as { pagesSent: number }[]).reduce((sum, r) => sum + r.pagesSent, 0);
    run.bytesOnWire = report.bytesOnWire;
    run.totalTimeMs = report.totalTimeMs;
    run.downtimeMs = report.downtimeMs;
    run.pagesSkippedSoft = report.softPages?.pagesSkippedSoft ?? null;
    run.pagesNeverSent = report.softPages?.pagesNeverSent ?? null;
    run.interruptMs = report.softPages?.interruptMs ?? null;
    run.pagesBallooned = report.balloon?.pagesBallooned ?? null;
    breakDown(run, { sourcePid, destPid, cpu0, sourceSamples, destSamples, phases: report.phases ?? [], askedAt });
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

/** The destination's report of the migration it received (GET /migrations: `incoming`, the latest), or null. */
async function destReport(control: string): Promise<Record<string, any> | null> {
  try {
    const incoming = ((await getJson(`${control}/migrations`)).incoming ?? []) as Record<string, any>[];
    return incoming[incoming.length - 1] ?? null;
  } catch {
    return null;
  }
}

interface Sampled {
  sourcePid: number;
  destPid: number;
  cpu0: CpuSample | null;
  /** From the migration's request to its report; the destination's also one after-window past it. */
  sourceSamples: (CpuSample | null)[];
  destSamples: (CpuSample | null)[];
  phases: { phase: string; atMs: number }[];
  askedAt: number;
}

/**
 * The CPU of both agents over the migration, by thread and by phase. The source's vCPU is the busiest thread
 * before the migration; the destination's, the busiest in the first window after its report (the guest
 * running there); both are guest work and left out of agentCpuSeconds.
 */
function breakDown(run: SoftPagesRun, s: Sampled): void {
  const src = s.sourceSamples.filter((x): x is CpuSample => x !== null);
  const dst = s.destSamples.filter((x): x is CpuSample => x !== null);
  if (!s.cpu0 || src.length < 2 || dst.length < 3) return;
  const sourceVcpus = busyThreads(s.cpu0, src[0]!, s.sourcePid);
  const afterReport = dst[dst.length - 1]!;
  const atReport = dst[dst.length - 2]!;
  const destVcpus = busyThreads(atReport, afterReport, s.destPid);
  run.source = splitCpu(s.sourcePid, src, sourceVcpus);
  run.dest = splitCpu(s.destPid, dst.slice(0, -1), destVcpus);
  run.sourceByPhase = cpuByPhase(src, sourceVcpus, s.phases, s.askedAt);
  run.destByPhase = cpuByPhase(dst.slice(0, -1), destVcpus, s.phases, s.askedAt);
  run.vcpuCpuSeconds = run.source.vcpu;
  run.sourceCpuSeconds = run.source.agent;
  run.destCpuSeconds = run.dest.agent;
  run.agentCpuSeconds = round2(run.source.agent + run.dest.agent);
  run.agentCpuSecondsWithDestVcpu = round2(run.source.agent + run.dest.agent + run.dest.vcpu);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
