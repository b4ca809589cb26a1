import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Guest, GuestMemory, parseWorkloadSpec, type WorkloadName } from '@livemig/guest';
import { BadArgumentError } from '@livemig/protocol';
import { ControlApi } from './control-api.js';
import { WarmChannels } from './warm-channels.js';
import { GuestHost, planMigration, type HostOutcome } from './guest-host.js';
import { ChannelSenders } from './channel-senders.js';
import { loadImageFile } from './image-file.js';
import { kernelParams, prepareDisk } from './disk-options.js';
import { requirePolicyName } from './switchover/index.js';
import { checkFeatureCombination } from './outgoing/feature-combinations.js';
import { MIGRATION_MODES, type MigrationMode } from './outgoing/options.js';
import { PREPAGING_NAMES, type Prepaging } from './postcopy/push-order.js';
import { DEFAULT_DELTA_CACHE_BYTES, DEFAULT_DOWNTIME_LIMIT_MS, DEFAULT_MAX_ROUNDS, DEFAULT_STREAMS, checkStreams } from './outgoing/index.js';
import { emptyReport, type MigrationReport } from './report.js';
import { writeReportHtml } from '@livemig/report-html';
import {
  formatBytes,
  isLoopback,
  loadTransportSecurity,
  parseDuration,
  parseHostPort,
  parseRate,
  parseSize,
  warmUpConnections,
  type Logger,
  type TlsArguments,
  checkControlBinding,
  loadControlAccess,
  type ControlAccessArguments,
} from '@livemig/agent-runtime';
import { workingSetOptions } from './working-set/working-set-options.js';
import { COMPRESS_MODES, DEFAULT_COMPRESS, isCompressMode } from './compression-choice.js';

export interface RunArguments extends TlsArguments, ControlAccessArguments {
  memory?: string;
  imageFile?: string;
  paused: boolean;
  streams: number;
  deltaCache: string;
  compress: string;
  directPages?: boolean;
  vcpus: number;
  workload: string;
  seed: number;
  ops: number;
  dirtyRate?: string;
  hotBytes?: string;
  disk?: string;
  diskBytes?: string;
  cacheBytes?: string;
  anonBytes?: string;
  hintInterval?: string;
  guestKernel?: string;
  migrateTo?: string;
  migrateAfter: string;
  downtimeLimit: string;
  maxRounds: number;
  maxTime?: string;
  policy: string;
  mode: string;
  prepaging: string;
  postcopyAfter?: number;
  postcopyRetries: number;
  maxPostcopyBandwidth?: string;
  maxBandwidth?: string;
  autoConverge: boolean;
  controlPort?: number;
  controlHost: string;
  runFor?: string;
  report?: string;
  reportHtml?: string;
  outcomeTimeout?: string;
  answerTimeout?: string;
  workingSet?: number;
  wsPreprocess?: string;
  softPages: boolean;
  balloon: boolean;
  interruptTimeout?: string;
}

/** The source report: the migration's fields, plus what became of the guest here. */
export type SourceReport = MigrationReport & { finalDigest: string | null; opsDone: number };

/** `source-agent run`: boots a guest, optionally migrates it, reports. Returns the exit status. */
export async function runCommand(args: RunArguments, log: Logger, signal: AbortSignal): Promise<number> {
  const requestedBytes = args.memory === undefined ? undefined : parseSize(args.memory, 'memory');
  if (!Number.isInteger(args.maxRounds) || args.maxRounds < 1) {
    throw new BadArgumentError(`--max-rounds: expected a positive integer, got ${args.maxRounds}`);
  }
  const params: Record<string, number> = {};
  if (args.dirtyRate !== undefined) params.dirtyRate = parseSize(args.dirtyRate, 'dirty-rate');
  if (args.hotBytes !== undefined) params.hotBytes = parseSize(args.hotBytes, 'hot-bytes');
  Object.assign(params, kernelParams(args));
  const workload = parseWorkloadSpec({ name: args.workload as WorkloadName, seed: args.seed, ops: args.ops, params });
  const target = args.migrateTo === undefined ? undefined : parseHostPort(args.migrateTo);
  const migrateAfterMs = parseDuration(args.migrateAfter, 'migrate-after');
  const downtimeLimitMs = parseDuration(args.downtimeLimit, 'downtime-limit');
  const maxTimeMs = args.maxTime === undefined ? undefined : parseDuration(args.maxTime, 'max-time');
  const policy = requirePolicyName(args.policy, '--policy');
  const { mode, prepaging } = parseModeFlags(args.mode, args.prepaging);
  const runForMs = args.runFor === undefined ? undefined : parseDuration(args.runFor, 'run-for');
  const answerTimeoutMs = args.answerTimeout === undefined ? undefined : parseDuration(args.answerTimeout, 'answer-timeout');
  if (answerTimeoutMs !== undefined && answerTimeoutMs <= 0) {
    throw new BadArgumentError(`--answer-timeout: expected a duration above 0, got ${args.answerTimeout}`);
  }
  const maxBandwidthBytesPerSec = args.maxBandwidth === undefined ? 0 : parseRate(args.maxBandwidth, 'max-bandwidth');

  const deltaCacheBytes = parseSize(args.deltaCache, 'delta-cache');
  const security = loadTransportSecurity(args);
  const access = loadControlAccess(args);
  // Before the guest boots: a control API that would refuse to listen fails the command at once (exit 2).
  if (args.controlPort !== undefined) checkControlBinding(args.controlHost, access, () => {});
  if (security.kind === 'none' && target !== undefined && !isLoopback(target.host)) {
    log.warn({ target: args.migrateTo }, 'migrating to a non-loopback address without TLS: the guest crosses the network in clear');
  }
  const compress = args.compress ?? DEFAULT_COMPRESS;
  if (!isCompressMode(compress)) throw new BadArgumentError(`--compress: expected one of ${COMPRESS_MODES.join(', ')}, got "${compress}"`);
  checkStreams(args.streams);
  checkFeatureCombination({ mode, workload: workload.name, workingSetPages: args.workingSet ?? 0, softPages: args.softPages, balloon: args.balloon });
  // The channel threads load their code while the image is read and the guest boots.
  const channels = target === undefined ? undefined : ChannelSenders.spawn(args.streams);
  channels?.catch(() => {});
  // This thread runs the handshake of any migration: its first use of that code is done while the guest boots.
  if (target !== undefined || args.controlPort !== undefined) void warmUpConnections();
  let memory: GuestMemory;
  let workingSet: ReturnType<typeof workingSetOptions>;
  let guest: Guest;
  try {
    memory =
      args.imageFile === undefined
        ? GuestMemory.create(requestedBytes ?? DEFAULT_MEMORY_BYTES)
        : loadImageFile(args.imageFile, requestedBytes);
    workingSet = workingSetOptions(args.workingSet, args.wsPreprocess, memory.pageCount);
    if (args.disk !== undefined) prepareDisk(args.disk, workload, log);
    guest = await Guest.start({ memory, vcpus: args.vcpus, workload, paused: args.paused, ...(args.disk === undefined ? {} : { disk: args.disk }) });
  } catch (error) {
    // A live channel thread would keep the process from exiting with the error (exit status 2 for a bad flag).
    void channels?.then((unused) => unused.terminate(), () => {});
    throw error;
  }
  const memoryBytes = memory.memoryBytes;
  const guestId = randomUUID();
  log.info(
    { guestId, memory: formatBytes(memoryBytes), vcpus: args.vcpus, workload: workload.name, seed: workload.seed, ops: workload.ops, image: args.imageFile },
    args.paused ? 'guest booted paused' : 'guest running',
  );

  // The command line's migration flags are also the defaults of migrations started through the control API.
  const migrationDefaults = {
    guestId,
    downtimeLimitMs,
    maxRounds: args.maxRounds,
    policy,
    mode,
    prepaging,
    ...(args.postcopyAfter === undefined ? {} : { postcopyAfterRounds: checkPostcopyAfter(args.postcopyAfter) }),
    postcopyRetries: checkPostcopyRetries(args.postcopyRetries),
    // Without a control API nobody can resume or discard a paused post-copy: it fails once its retries are spent.
    postcopyOperator: args.controlPort !== undefined,
    ...(args.maxPostcopyBandwidth === undefined ? {} : { maxPostcopyBandwidthBytesPerSec: parseRate(args.maxPostcopyBandwidth, 'max-postcopy-bandwidth') }),
    ...(maxTimeMs === undefined ? {} : { maxTimeMs }),
    maxBandwidthBytesPerSec,
    autoConverge: args.autoConverge,
    streams: args.streams,
    deltaCacheBytes,
    security,
    ...workingSet,
    softPages: args.softPages,
    balloon: args.balloon,
    ...(args.interruptTimeout === undefined ? {} : { interruptTimeoutMs: parseDuration(args.interruptTimeout, 'interrupt-timeout') }),
    compress,
    directPages: args.directPages ?? true,
    ...(args.outcomeTimeout === undefined ? {} : { outcomeTimeoutMs: parseDuration(args.outcomeTimeout, 'outcome-timeout') }),
    ...(answerTimeoutMs === undefined ? {} : { answerTimeoutMs }),
  };
  // A control API's first migration finds its channel threads started (not with --migrate-to: it has its own).
  const warmChannels = args.controlPort !== undefined && target === undefined ? new WarmChannels(args.streams) : undefined;
  const host = new GuestHost(guest, {
    guestId,
    log,
    signal,
    ...(warmChannels === undefined ? {} : { warmChannels }),
    ...(runForMs === undefined ? {} : { runForMs }),
    // Only a control API can take the operator's decision on an unknown outcome.
    unresolved: args.controlPort === undefined ? 'end' : 'wait',
  });
  const control = args.controlPort === undefined ? undefined : new ControlApi({ agent: 'source', host: () => host, migrationDefaults, access, log });
  if (control) {
    control.watch(host);
    const address = await control.listen(args.controlPort!, args.controlHost).catch((error: unknown) => {
      warmChannels?.close();
      throw error;
    });
    process.stdout.write(`control http://${address.host}:${address.port}\n`);
  }
  if (target !== undefined) {
    planMigration(host, { ...migrationDefaults, target, afterMs: migrateAfterMs, ...(channels === undefined ? {} : { channels }) }, log);
  }
  const outcome = await host.ended;
  warmChannels?.close();
  const status = await reportOutcome(outcome, args, log, guestId, memoryBytes);
  // A daemon with a control API outlives its guest: it answers (e.g. the migration's report) until signalled.
  if (control) {
    await untilAborted(signal);
    await control.close();
  }
  return status;
}

/** `source-agent run`'s exit status when a migration's outcome is unknown and nobody resolved it. */
export const OUTCOME_UNKNOWN_EXIT_STATUS = 3;

/** Prints the final digest, writes the report, and returns the exit status. */
async function reportOutcome(outcome: HostOutcome, args: RunArguments, log: Logger, guestId: string, memoryBytes: number): Promise<number> {
  if (outcome.finalDigest) process.stdout.write(`final digest ${outcome.finalDigest}\n`);
  const report: SourceReport = {
    ...(outcome.migration ?? notMigrated(guestId, memoryBytes)),
    finalDigest: outcome.finalDigest,
    opsDone: outcome.opsDone,
  };
  if (args.report) await writeFile(args.report, `${JSON.stringify(report, null, 2)}\n`);
  if (args.reportHtml) await writeReportHtml(args.reportHtml, { ...report });
  if (outcome.migration) {
    const m = outcome.migration;
    if (m.status === 'completed') {
      log.info(
        { totalTimeMs: m.totalTimeMs, downtimeMs: m.downtimeMs, rounds: m.rounds.length, bytesOnWire: m.bytesOnWire },
        'migration completed',
      );
      return 0;
    }
    process.stderr.write(`source-agent: migration ${m.status}: ${m.error?.message ?? 'unknown cause'} (${m.error?.code})\n`);
    // Distinct: the guest may be parked on both hosts, and an operator must decide (README, "Exit status").
    return m.status === 'outcome-unknown' && m.resolution === null ? OUTCOME_UNKNOWN_EXIT_STATUS : 1;
  }
  return 0;
}

function notMigrated(guestId: string, memoryBytes: number): MigrationReport {
  return emptyReport({
    status: 'not-migrated',
    guestId,
    target: '',
    policy: '',
    streams: 0,
    memoryBytes,
    guestOpsAtStart: 0,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  });
}

const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export const RUN_DEFAULTS = {
  downtimeLimit: `${DEFAULT_DOWNTIME_LIMIT_MS}ms`,
  maxRounds: DEFAULT_MAX_ROUNDS,
  streams: DEFAULT_STREAMS,
  deltaCache: `${DEFAULT_DELTA_CACHE_BYTES / 1024 / 1024}MiB`,
  compress: DEFAULT_COMPRESS,
};

/** `--mode` and `--prepaging`. @throws BadArgumentError for a name not in their lists */
function parseModeFlags(mode: string, prepaging: string): { mode: MigrationMode; prepaging: Prepaging } {
  if (!(MIGRATION_MODES as readonly string[]).includes(mode)) {
    throw new BadArgumentError(`--mode: expected one of ${MIGRATION_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  if (!(PREPAGING_NAMES as readonly string[]).includes(prepaging)) {
    throw new BadArgumentError(`--prepaging: expected one of ${PREPAGING_NAMES.join(', ')}, got ${JSON.stringify(prepaging)}`);
  }
  return { mode: mode as MigrationMode, prepaging: prepaging as Prepaging };
}

/** `--postcopy-retries N`: an integer >= 0. @throws BadArgumentError */
function checkPostcopyRetries(retries: number): number {
  if (!Number.isInteger(retries) || retries < 0) throw new BadArgumentError(`--postcopy-retries: expected an integer >= 0, got ${retries}`);
  return retries;
}

/** `--postcopy-after N`: a positive integer. @throws BadArgumentError */
function checkPostcopyAfter(rounds: number): number {
  if (!Number.isInteger(rounds) || rounds < 1) throw new BadArgumentError(`--postcopy-after: expected a positive integer, got ${rounds}`);
  return rounds;
}
