import { DEST_AGENT, ROOT, SOURCE_AGENT, firstLine } from './agents.js';
import { NodeChild, describeExit, exitedWithin, exitsWithin, track } from './child.js';
import type { Scratch } from './image-set.js';
import type { LiveWorkload } from './live-cases.js';
import { num, str, takeReports } from './report-file.js';


/** The source outlives the destination only briefly (it closes its channels); past this it is asked to stop. */
const SOURCE_AFTER_DEST_MS = 5_000;
/** After SIGTERM the source parks its guest and writes its report; past this it is killed. */
const SOURCE_STOP_MS = 10_000;
/** The destination hosts the guest for --run-for after activation; past this grace it counts as hung. */
const DEST_AFTER_SOURCE_MS = 30_000;

export interface LiveRunParams {
  memory: string;
  vcpus: number;
  migrateAfter: string;
  migrateAfterMs: number;
  maxRounds: number;
  maxTime: string;
  /** Passed as --downtime-limit when set; otherwise the agent's default applies. */
  downtimeLimit: string | null;
  destRunFor: string;
  /** A run where neither agent has exited by then is stopped and counted as failed. */
  deadlineMs: number;
  timeoutMs: number;
}

/** The fields of one entry of the source report's `rounds` this benchmark reads. */
export interface LiveRound {
  round: number;
  final: boolean;
  pagesSent: number | null;
  pagesResent: number | null;
  bytesOnWire: number | null;
  ms: number | null;
  pagesDirtiedMeanwhile: number | null;
  /** null when the agent's figure was Infinity (no bandwidth measured yet), which JSON writes as null. */
  expectedDowntimeMs: number | null;
  /** The fixed part of expectedDowntimeMs (agents that report it). */
  switchoverCostMs: number | null;
  bandwidthBytesPerSec: number | null;
  /** The per-page term, and its source and destination parts (agents that report them; the last with round-ack-v1). */
  pageCostUs: number | null;
  sourcePageCostUs: number | null;
  destPageCostUs: number | null;
}

export interface LiveRun {
  workload: string;
  policy: string;
  rep: number;
  /** The source report's status (`completed`, `failed`, ...), or `no report`. */
  status: string;
  /** Completed, both agents exited 0 and the destination says completed: only these count in medians. */
  ok: boolean;
  error: string | null;
  switchoverReason: string | null;
  /** vCPU park at the source to the destination's Activated, as the source saw it. */
  downtimeMs: number | null;
  /**
   * Park to the guest activated at the destination by the host's wall clock, which both agents share:
   * (dest startedAt + dest totalTimeMs) - (source startedAt + timeToParkMs). An upper bound: the destination
   * stamps totalTimeMs after refilling its worker pools (a few ms after activation); timestamps are whole ms.
   * Unlike downtimeMs it does not wait for the source to read Activated after stopping its own vCPUs.
   */
  wallDowntimeMs: number | null;
  /** Park to the last stop-and-copy byte and Complete handed to the sockets (QEMU's figure). */
  sourceDowntimeMs: number | null;
  /** The source process's CPU time over the same span (agents that report it). */
  sourceDowntimeCpuMs: number | null;
  /** Complete sent to Committed received: the destination drains the channels and checks the digest. */
  commitMs: number | null;
  /** Committed to Activated received (includes the source stopping its own vCPU workers meanwhile). */
  activateMs: number | null;
  /** The destination's own time to start the vCPUs (its report's activationMs). */
  destActivationMs: number | null;
  totalTimeMs: number | null;
  timeToParkMs: number | null;
  setupTimeMs: number | null;
  /** Every round, the final stop-and-copy included; `precopyRounds` leaves that one out. */
  rounds: number | null;
  precopyRounds: number | null;
  bytesOnWire: number | null;
  finalRoundMs: number | null;
  finalRoundPages: number | null;
  /** The last pre-copy round's expectedDowntimeMs: what the policy believed the downtime would be. */
  expectedDowntimeMs: number | null;
  /** (expected - measured) / measured, against downtimeMs and against sourceDowntimeMs. */
  expectedError: number | null;
  expectedErrorVsSource: number | null;
  /** Guest boot ("guest running" in the source's log) to migration start (the report's startedAt). */
  beforeMs: number | null;
  beforeFrom: 'log' | 'migrate-after' | null;
  opsPerSecBefore: number | null;
  opsPerSecDuring: number | null;
  /** opsPerSecDuring / opsPerSecBefore. */
  slowdown: number | null;
  /** With round-ack-v1: the most rounds begun and not acknowledged at once (at most 2), and the time waited for acknowledgements. */
  maxRoundsInFlight: number | null;
  ackWaitMs: number | null;
  roundReports: LiveRound[];
}

/** The source's stderr carries its pino log at info level: the "guest running" line gives the boot time. */
function watchBoot(child: NodeChild): () => number | null {
  let bootAt: number | null = null;
  let pending = '';
  const stderr = child.process.stderr!;
  const onData = (text: string): void => {
    pending += text;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (bootAt === null && line.includes('"guest running"')) {
        try {
          bootAt = num((JSON.parse(line) as { time?: unknown }).time);
        } catch {
          // not a JSON log line after all
        }
      }
    }
    if (bootAt !== null) stderr.off('data', onData);
  };
  stderr.on('data', onData);
  return () => bootAt;
}

/** The last stderr line that is not a JSON log record: the agent's own error message, if it printed one. */
function lastMessage(child: NodeChild): string {
  const lines = child.stderrTail.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
  return lines.at(-1)?.trim() ?? 'no message';
}

async function checkExit(child: NodeChild): Promise<string | null> {
  const exit = await child.exited;
  return exit.code === 0 ? null : `${child.name} exited with ${describeExit(exit)}: ${lastMessage(child)}`;
}

function rel(expected: number | null, measured: number | null): number | null {
  return expected === null || measured === null || measured <= 0 ? null : (expected - measured) / measured;
}

function diff(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.round((a - b) * 10) / 10;
}

function readRound(value: unknown): LiveRound {
  const r = (value ?? {}) as Record<string, unknown>;
  return {
    round: num(r.round) ?? 0,
    final: r.final === true,
    pagesSent: num(r.pagesSent),
    pagesResent: num(r.pagesResent),
    bytesOnWire: num(r.bytesOnWire),
    ms: num(r.ms),
    pagesDirtiedMeanwhile: num(r.pagesDirtiedMeanwhile),
    expectedDowntimeMs: num(r.expectedDowntimeMs),
    switchoverCostMs: num(r.switchoverCostMs),
    bandwidthBytesPerSec: num(r.bandwidthBytesPerSec),
    pageCostUs: num(r.pageCostUs),
    sourcePageCostUs: num(r.sourcePageCostUs),
    destPageCostUs: num(r.destPageCostUs),
  };
}

/** One live migration of a running guest between two agent processes over loopback. Never throws. */
export async function liveRun(workload: LiveWorkload, policy: string, rep: number, params: LiveRunParams, scratch: Scratch): Promise<LiveRun> {
  const tag = `${workload.name}-${policy}-${rep}`;
  const sourceReport = scratch.file(`source-${tag}.json`);
  const destReport = scratch.file(`dest-${tag}.json`);
  const { timeoutMs } = params;
  const errors: string[] = [];
  let bootAt: () => number | null = () => null;
  const dest = track(
    new NodeChild('dest-agent', DEST_AGENT, ['listen', '--port', '0', '--once', '--run-for', params.destRunFor, '--report', destReport], {
      timeoutMs,
      cwd: ROOT,
    }),
  );
  let source: NodeChild | undefined;
  try {
    const [, address] = await dest.waitForLine(/^listening (\S+)$/);
    const args = [
      'run',
      '--memory', workload.memory ?? params.memory,
      '--vcpus', String(params.vcpus),
      ...workload.flags,
      '--ops', '0',
      '--migrate-to', address!,
      '--migrate-after', params.migrateAfter,
      '--policy', policy,
      '--max-rounds', String(params.maxRounds),
      '--max-time', params.maxTime,
      ...(params.downtimeLimit === null ? [] : ['--downtime-limit', params.downtimeLimit]),
      '--report', sourceReport,
    ];
    source = track(new NodeChild('source-agent', SOURCE_AGENT, args, { timeoutMs, cwd: ROOT, env: { LOG_LEVEL: 'info' } }));
    bootAt = watchBoot(source);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), params.deadlineMs);
    });
    const first = await Promise.race([source.exited.then(() => 'source' as const), dest.exited.then(() => 'dest' as const), deadline]);
    clearTimeout(timer);
    if (first === 'deadline') {
      // Neither side ended (e.g. the source never reached the destination and hosts its guest on).
      errors.push(`no agent exited within ${params.deadlineMs / 1000} s; sent SIGTERM to the source`);
      source.process.kill('SIGTERM');
      await exitsWithin(source, SOURCE_STOP_MS);
    } else if (first === 'source') {
      await exitsWithin(dest, DEST_AFTER_SOURCE_MS);
    } else if (!(await exitedWithin(source, SOURCE_AFTER_DEST_MS))) {
      // The destination is gone (it failed, or the migration did): a source whose migration failed keeps
      // hosting its guest (--ops 0 runs forever), so it is asked to stop, which writes its report.
      source.process.kill('SIGTERM');
      errors.push(`source-agent still running ${SOURCE_AFTER_DEST_MS / 1000} s after dest-agent exited; sent SIGTERM`);
      await exitsWithin(source, SOURCE_STOP_MS);
    }
    for (const child of [source, dest]) {
      const failed = await checkExit(child);
      if (failed) errors.push(failed);
    }
  } catch (e) {
    errors.push(firstLine(e));
  } finally {
    dest.kill();
    source?.kill();
    await Promise.allSettled([dest.exited, source?.exited]);
  }
  const { src, dst } = await takeReports(sourceReport, destReport);
  return measure(workload, policy, rep, params, src, dst, bootAt(), errors);
}

function measure(
  workload: LiveWorkload,
  policy: string,
  rep: number,
  params: LiveRunParams,
  src: Record<string, unknown> | null,
  dst: Record<string, unknown> | null,
  bootAt: number | null,
  errors: string[],
): LiveRun {
  const status = str(src?.status) ?? 'no report';
  const destStatus = str(dst?.status);
  if (status === 'completed' && destStatus !== 'completed') errors.push(`dest report status ${destStatus ?? 'missing'}`);
  const ok = status === 'completed' && errors.length === 0;
  const reportError = src?.error as { code?: unknown; message?: unknown } | undefined;
  const error = ok ? null : reportError ? `${str(reportError.code)}: ${str(reportError.message)}` : (errors[0] ?? status);

  const rounds = Array.isArray(src?.rounds) ? src.rounds.map(readRound) : [];
  const precopy = rounds.filter((r) => !r.final);
  const final = rounds.find((r) => r.final);
  const downtimeMs = num(src?.downtimeMs);
  const sourceDowntimeMs = num(src?.sourceDowntimeMs);
  const timeToParkMs = num(src?.timeToParkMs);
  const parkToCommit = diff(num(src?.timeToCommitMs), timeToParkMs);
  // The last pre-copy round's expectation; Infinity (no bandwidth yet) arrives as null.
  const expectedDowntimeMs = precopy.at(-1)?.expectedDowntimeMs ?? null;
  const acks = src?.roundAcks as Record<string, unknown> | undefined;

  const opsAtStart = num(src?.guestOpsAtStart);
  const opsAtPark = num(src?.guestOpsAtPark);
  const startedAt = typeof src?.startedAt === 'string' ? Date.parse(src.startedAt) : Number.NaN;
  const destStartedAt = typeof dst?.startedAt === 'string' ? Date.parse(dst.startedAt) : Number.NaN;
  const destTotalMs = num(dst?.totalTimeMs);
  const wallDowntimeMs =
    Number.isFinite(startedAt) && Number.isFinite(destStartedAt) && destTotalMs !== null && timeToParkMs !== null && destStatus === 'completed'
      ? Math.round((destStartedAt + destTotalMs - (startedAt + timeToParkMs)) * 10) / 10
      : null;
  const fromLog = bootAt !== null && Number.isFinite(startedAt) && startedAt > bootAt ? startedAt - bootAt : null;
  const beforeMs = fromLog ?? (src === null ? null : params.migrateAfterMs);
  const opsPerSecBefore = opsAtStart === null || beforeMs === null || beforeMs <= 0 ? null : (opsAtStart * 1000) / beforeMs;
  const opsPerSecDuring =
    opsAtStart === null || opsAtPark === null || timeToParkMs === null || timeToParkMs <= 0 ? null : ((opsAtPark - opsAtStart) * 1000) / timeToParkMs;

  return {
    workload: workload.name,
    policy,
    rep,
    status,
    ok,
    error,
    switchoverReason: str(src?.switchoverReason),
    downtimeMs,
    wallDowntimeMs,
    sourceDowntimeMs,
    sourceDowntimeCpuMs: num(src?.sourceDowntimeCpuMs),
    commitMs: diff(parkToCommit, sourceDowntimeMs),
    activateMs: diff(downtimeMs, parkToCommit),
    destActivationMs: num(dst?.activationMs),
    totalTimeMs: num(src?.totalTimeMs),
    timeToParkMs,
    setupTimeMs: num(src?.setupTimeMs),
    rounds: src === null ? null : rounds.length,
    precopyRounds: src === null ? null : precopy.length,
    bytesOnWire: num(src?.bytesOnWire),
    finalRoundMs: final?.ms ?? null,
    finalRoundPages: final?.pagesSent ?? null,
    expectedDowntimeMs,
    expectedError: rel(expectedDowntimeMs, downtimeMs),
    expectedErrorVsSource: rel(expectedDowntimeMs, sourceDowntimeMs),
    beforeMs,
    beforeFrom: beforeMs === null ? null : fromLog !== null ? 'log' : 'migrate-after',
    opsPerSecBefore,
    opsPerSecDuring,
    slowdown: opsPerSecBefore === null || opsPerSecDuring === null || opsPerSecBefore === 0 ? null : opsPerSecDuring / opsPerSecBefore,
    maxRoundsInFlight: num(acks?.maxRoundsInFlight),
    ackWaitMs: num(acks?.waitedMs),
    roundReports: rounds,
  };
}
