import { MAX_CHANNELS } from '@livemig/protocol';
import type { HostPort, Logger, TransportSecurity } from '@livemig/agent-runtime';
import type { ChannelSenders } from '../channel-senders.js';
import type { CompressMode } from '../compression-choice.js';
import type { RoundReport } from '../report.js';
import type { Prepaging } from '../postcopy/push-order.js';
import type { PolicyName } from '../switchover/index.js';
import type { MigrationParameters } from './parameters.js';

export interface MigrationOptions {
  target: HostPort;
  /** Identity carried from host to host, so a guest keeps its id across A -> B -> A. */
  guestId?: string;
  /**
   * precopy (default): iterate, then stop-and-copy. postcopy: park at once, send the CPU state and run the
   * guest at the destination, then serve its faults and push the pages (Hines and Gopalan; PROTOCOL.md).
   * hybrid: pre-copy, switching to post-copy where stop-and-copy would exceed the downtime limit.
   */
  mode?: MigrationMode;
  /** hybrid: switch to post-copy after this many pre-copy rounds, whatever the policy says. */
  postcopyAfterRounds?: number;
  /** Post-copy's push order (default bubble). */
  prepaging?: Prepaging;
  /** Wire bytes per second of post-copy's push after the switch (QEMU's max-postcopy-bandwidth; 0 or absent: unlimited). */
  maxPostcopyBandwidthBytesPerSec?: number;
  /**
   * Post-copy paused (a connection lost after the switch): reconnect by itself to `target` this many times,
   * with a bounded backoff (postcopy/resume-requests.ts), before it waits for the operator (default 0).
   */
  postcopyRetries?: number;
  /**
   * Whether an operator can resume or discard a paused post-copy (a control API): false makes it fail once the
   * automatic attempts are spent, instead of waiting for nobody (default true).
   */
  postcopyOperator?: boolean;
  /** When to stop iterating: downtime (QEMU), xen, or patterns (Ibrahim et al.). */
  policy?: PolicyName;
  downtimeLimitMs?: number;
  maxRounds?: number;
  /** Stop iterating once the migration has run this long (whatever the policy). */
  maxTimeMs?: number;
  /** Wire bytes per second over all channels during pre-copy (0 or absent: unlimited). */
  maxBandwidthBytesPerSec?: number;
  /** Throttle the vCPUs when they dirty pages faster than pre-copy sends them (QEMU's auto-converge). */
  autoConverge?: boolean;
  /** Data channels (TCP connections, each with its own encoding thread), like QEMU's multifd channels. */
  streams?: number;
  /** Budget for the copies of resent pages that delta encoding works against (0: no delta encoding). */
  deltaCacheBytes?: number;
  /**
   * Skip the pages the guest kernel's hint calls soft, and raise the pre-suspend interrupt before
   * stop-and-copy (SonicMigration; guests with a kernel: fileserver). See soft-pages.ts.
   */
  softPages?: boolean;
  /** Self-ballooning: the guest kernel gives its free pages back first; rounds never read nor send them (balloon.ts). */
  balloon?: boolean;
  /** How long stop-and-copy waits for the interrupt's acknowledgement before sending soft pages after all. */
  interruptTimeoutMs?: number;
  /** How page batches are compressed: auto (chosen per batch from the measured link and cores), none, lz4, zstd. */
  compress?: CompressMode;
  /**
   * Offer PageBatchDirect (raw pages written from guest memory without a copy, checked end to end and repaired
   * at commit: capability direct-pages-v2) in pre-copy; default true. False keeps the plain PageBatch form.
   */
  directPages?: boolean;
  /** Channel workers spawned ahead (ChannelSenders.spawn(streams)); else they are spawned at the start. */
  channels?: Promise<ChannelSenders>;
  /** How every connection of the migration is secured (TLS 1.3 with the agent's credentials); default plain TCP. */
  security?: TransportSecurity;
  connectTimeoutMs?: number;
  /**
   * How long to wait for Committed after Complete, Activated after Confirm and Outcome on an outcome connection,
   * before the answer counts as lost (Accept waits for the idle timeout: a slow reservation is not a loss).
   */
  answerTimeoutMs?: number;
  idleTimeoutMs?: number;
  log?: Logger;
  onRound?: (round: RoundReport) => void;
  /** Cancels the migration (as cancel() does: refused once Complete is out). */
  signal?: AbortSignal;
  /** How long to keep asking the destination for the outcome once the answer to Complete was lost. */
  outcomeTimeoutMs?: number;
  /** Zaw and Thein's framework: the working set list's capacity in pages (0 or absent: plain pre-copy). */
  workingSetPages?: number;
  /** Its preprocessing phase before round 1 (T_pre). */
  wsPreprocessMs?: number;
}

export type MigrationMode = 'precopy' | 'postcopy' | 'hybrid';
export const MIGRATION_MODES: readonly MigrationMode[] = Object.freeze(['precopy', 'postcopy', 'hybrid']);

export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
export const DEFAULT_MAX_ROUNDS = 30;
/** Data channels when the `streams` option is absent. */
export const DEFAULT_STREAMS = 2;
export const DEFAULT_DELTA_CACHE_BYTES = 64 * 1024 * 1024;
/** How long the control connection and each data channel may take to connect. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long a source asks for a lost outcome before it is `outcome-unknown` (the operator decides then). */
export const DEFAULT_OUTCOME_TIMEOUT_MS = 60_000;
/** The outcome query's backoff: the first retry after this long, doubling up to the maximum. */
export const OUTCOME_RETRY_FIRST_MS = 100;
export const OUTCOME_RETRY_MAX_MS = 5_000;
/** The protocol's limit on data channels per migration: the largest `streams` option. */
export const MAX_STREAMS = MAX_CHANNELS;

/** The parameters a migration starts with: its options, or the defaults. */
export function initialParameters(options: MigrationOptions): MigrationParameters {
  return {
    policy: options.policy ?? 'downtime',
    downtimeLimitMs: options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS,
    maxRounds: options.maxRounds ?? DEFAULT_MAX_ROUNDS,
    maxTimeMs: options.maxTimeMs ?? Number.POSITIVE_INFINITY,
    maxBandwidthBytesPerSec: options.maxBandwidthBytesPerSec ?? 0,
    autoConverge: options.autoConverge ?? false,
  };
}
