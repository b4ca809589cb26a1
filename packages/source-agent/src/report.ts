import { emptyEncodingCounts, type EncodingName, type MigrationOutcome } from '@livemig/protocol';
import type { ModelCheck } from './model/model-check.js';
import type { BatchCounts } from './compression-choice.js';
import type { MigrationParameters } from './outgoing/parameters.js';
import type { PhaseMark, StatsSeriesReport } from './outgoing/stats-series.js';
import type { WorkingSetReport } from './working-set/working-set-framework.js';
import type { BalloonReport } from './outgoing/balloon.js';
import type { SoftPagesReport } from './outgoing/soft-pages.js';
import type { RoundAckReport } from './outgoing/round-acks.js';

export { ENCODING_NAMES } from '@livemig/protocol';

/**
 * `outcome-unknown`: Complete went out and the source could not learn whether the destination committed; the
 * guest stays parked here until an operator resolves it (PROTOCOL.md, "Commit", rule 4).
 */
export type MigrationStatus = 'completed' | 'failed' | 'cancelled' | 'not-migrated' | 'outcome-unknown';

/** What the source learnt by asking the destination over outcome connections (PROTOCOL.md, "Commit"). */
export interface OutcomeReport {
  /** The last answer: committed, aborted, discarded or unknown; `no-answer` when no outcome connection got one. */
  answer: MigrationOutcome | 'no-answer';
  reason: string | null;
  /** Outcome connections tried. */
  queries: number;
}

export interface RoundReport {
  /** 1 = every page ever written; n = pages dirtied during round n-1; the last one is stop-and-copy. */
  round: number;
  final: boolean;
  pagesSent: number;
  /** Of those, pages the previous round sent too (pre-copy chasing a page the guest keeps writing). */
  pagesResent: number;
  bytesOnWire: number;
  ms: number;
  /** Pages the vCPUs dirtied while this round was being sent (what the next round has to send). */
  pagesDirtiedMeanwhile: number;
  /**
   * Expected downtime if we stopped after this round: the switchover's fixed cost + the larger of remaining dirty
   * bytes / bandwidth and dirty pages x pageCostUs.
   */
  expectedDowntimeMs: number;
  /** The fixed part of that estimate (SwitchoverCost): a round's latency plus a control round trip. */
  switchoverCostMs: number;
  /** The slowest channel thread's time on this round less its waits to send: reading, encoding, framing. */
  busyMs: number;
  /** Microseconds a dirty page adds to the final round, as the rounds so far measured it (PageCost; 0: unknown). */
  pageCostUs: number;
  /** Of that, the source's part and the destination's (from RoundAck; 0: unknown): pageCostUs is the larger. */
  sourcePageCostUs: number;
  destPageCostUs: number;
  /** Wire bandwidth over the short window that ended with this round. */
  bandwidthBytesPerSec: number;
  /** vCPU throttle in force after this round's auto-converge check (0: none). */
  throttlePercent: number;
  /** When the round was reported, in ms since the migration started: a pre-copy round once sent and judged by the policy, the last once Complete was out. */
  endedAtMs: number;
  /** Page batches sent uncompressed (`none`), with lz4 and with zstd (and of those, at levels 3, 6, 9) in this round: --compress's choice. */
  batches: BatchCounts;
}

/** Pages or bytes by encoding, keyed by the protocol's ENCODING_NAMES. */
export type PagesByEncoding = Record<EncodingName, number>;

export interface MigrationReport {
  status: MigrationStatus;
  /** The migration's id at the source agent (its control API names it so); null when none was started. */
  migrationId: string | null;
  error?: { code: string; message: string };
  guestId: string;
  target: string;
  startedAt: string;
  totalTimeMs: number;
  /** Migration start (connect) to the destination's Committed. */
  timeToCommitMs: number | null;
  /** From vCPU park at the source to the destination's Activated (vCPUs started there). */
  downtimeMs: number | null;
  /** Migration start to vCPU park (pre-copy's length; guest slowdown is measured over it). */
  timeToParkMs: number | null;
  /** The source's share of the downtime: vCPU park to the last stop-and-copy byte handed to the sockets (QEMU's figure). */
  sourceDowntimeMs: number | null;
  /**
   * CPU time of the whole source process over the same span (every thread; the vCPUs are parked then, so it is
   * the main thread and the channel threads): the stop-and-copy's own cost, which shared cores do not inflate.
   */
  sourceDowntimeCpuMs: number | null;
  /** Highest vCPU throttle auto-converge applied (0: none); released when the migration ended. */
  throttlePercent: number;
  /** The parameters in force at the end (they may have been changed while it ran). */
  parameters: MigrationParameters | null;
  /** Handshake and reservation: connect to Accept. */
  setupTimeMs: number;
  /** Why pre-copy stopped: downtime-limit, nothing-dirty, xen-few-dirty, xen-max-rounds, patterns-drains, patterns-resent, patterns-stable, max-rounds or max-time. */
  switchoverReason: string | null;
  /** The switchover policy: downtime, xen or patterns. */
  policy: string;
  /** Data channels used (TCP connections, each with its own encoding thread). */
  streams: number;
  rounds: RoundReport[];
  pagesSent: PagesByEncoding;
  /** Bytes of page-batch entries on the wire, by encoding. */
  bytesByEncoding: PagesByEncoding;
  /** Pages that found their last-sent copy in the delta cache. */
  deltaCacheHits: number;
  /** With round-ack-v1 agreed: the acknowledgements, and the bound on the source's lead they kept (round-acks.ts). */
  roundAcks?: RoundAckReport;
  bytesOnWire: number;
  /** Bytes of guest memory the rounds covered (pages sent x 4096). */
  imageBytes: number;
  memoryBytes: number;
  /** Image digest (per-page CRC table + CPU state) the destination verified before committing. */
  sourceDigest: string | null;
  /** The repair step at commit (direct-pages-v2), when the destination asked for it: passes and pages re-sent. */
  repair?: { passes: number; pages: number };
  /** Operations the vCPUs had done when the migration started. */
  guestOpsAtStart: number;
  /** Operations the vCPUs had done when they were parked for stop-and-copy. */
  guestOpsAtPark: number | null;
  /** Peak resident set size of this process so far. */
  peakRssBytes: number;
  /**
   * CPU time of this whole process from the migration's start to its end (every thread: channel threads and
   * the guest's vCPU workers too, so a running guest's own work is in it; a paused guest's is not).
   */
  cpuMs: number;
  /** Whether the source sent Confirm (let go of the guest): only then can the destination's copy have run. */
  confirmSent: boolean;
  /** Set when the source had to ask the destination for the outcome. */
  outcome: OutcomeReport | null;
  /** An operator's decision on an `outcome-unknown` migration: resume (the guest runs here again) or discard. */
  resolution: { action: 'resume' | 'discard'; at: string } | null;
  /** When the migration entered each phase (ms since it started), the final one included. */
  phases: PhaseMark[];
  /** The live statistics over time, sampled every 100 ms and downsampled past 600 samples (stats-series.ts). */
  series: StatsSeriesReport;
  /** The working-set framework (Zaw and Thein) when `--working-set` was given; null for plain pre-copy. */
  workingSet: WorkingSetReport | null;
  /** The migration-time model's prediction from the parameters measured in this run, next to what happened. */
  model: ModelCheck | null;
  /** Post-copy's page server, when the migration switched to post-copy (absent otherwise). */
  postcopy?: PostcopySourceReport;
  /** With --soft-pages (soft-pages.ts): pages skipped on the guest's word, the interrupt, the hints' ages. */
  softPages?: SoftPagesReport;
  /** With --balloon (balloon.ts): the inflation and the pages never read nor sent. */
  balloon?: BalloonReport;
}

/** What the source's page server did in post-copy (QEMU's definitions). */
export interface PostcopySourceReport {
  prepaging: string;
  /** Pages the destination lacked at the switch (every page ever written here). */
  missingAtSwitch: number;
  /** Pages the destination requested (network faults), and of those the ones answered (not pushed before). */
  pagesRequested: number;
  pagesAnswered: number;
  /** Pages the background push sent. */
  pagesPushed: number;
  /** Pages sent more than once: only pages lost in flight when a connection was cut, re-sent after recovery. */
  pagesSentTwice: number;
  /** Times post-copy paused (a connection lost after the switch), and times it recovered. */
  pauses: number;
  recoveries: number;
  /** Recovery attempts that failed (the connection cut again, the destination not ready). */
  failedRecoveries: number;
}

/** A report with nothing sent yet: the start of a migration's report, or the whole of `not-migrated`. */
export function emptyReport(
  fields: Pick<MigrationReport, 'status' | 'guestId' | 'target' | 'policy' | 'streams' | 'memoryBytes' | 'guestOpsAtStart' | 'peakRssBytes'>,
): MigrationReport {
  return {
    status: fields.status,
    migrationId: null,
    guestId: fields.guestId,
    target: fields.target,
    startedAt: new Date().toISOString(),
    totalTimeMs: 0,
    timeToCommitMs: null,
    downtimeMs: null,
    timeToParkMs: null,
    sourceDowntimeMs: null,
    sourceDowntimeCpuMs: null,
    throttlePercent: 0,
    parameters: null,
    setupTimeMs: 0,
    switchoverReason: null,
    policy: fields.policy,
    streams: fields.streams,
    rounds: [],
    pagesSent: emptyEncodingCounts(),
    bytesByEncoding: emptyEncodingCounts(),
    deltaCacheHits: 0,
    bytesOnWire: 0,
    imageBytes: 0,
    memoryBytes: fields.memoryBytes,
    sourceDigest: null,
    guestOpsAtStart: fields.guestOpsAtStart,
    guestOpsAtPark: null,
    peakRssBytes: fields.peakRssBytes,
    cpuMs: 0,
    confirmSent: false,
    outcome: null,
    resolution: null,
    phases: [],
    series: { intervalMs: 0, maxSamples: 0, samples: [] },
    workingSet: null,
    model: null,
  };
}
