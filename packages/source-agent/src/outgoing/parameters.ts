import { BadArgumentError } from '@livemig/protocol';
import { dirtyLogEnabled, type Guest } from '@livemig/guest';
import { requirePolicyName, type PolicyName } from '../switchover/index.js';
import { MAX_STREAMS } from './options.js';

/** What may be changed while a migration runs (QEMU's migrate-set-parameters). */
export interface MigrationParameters {
  policy: PolicyName;
  downtimeLimitMs: number;
  maxRounds: number;
  /** Infinity: no time bound. */
  maxTimeMs: number;
  /** Bytes per second on the wire over all channels; 0: unlimited. */
  maxBandwidthBytesPerSec: number;
  /** Throttle the vCPUs when they dirty pages faster than they are sent (QEMU's auto-converge). */
  autoConverge: boolean;
}

/** @throws BadArgumentError naming the first parameter out of range */
export function checkParameters(p: MigrationParameters): void {
  requirePolicyName(p.policy, 'policy');
  if (!(p.downtimeLimitMs >= 0) || !Number.isFinite(p.downtimeLimitMs)) {
    throw new BadArgumentError(`downtime limit: expected a duration >= 0, got ${p.downtimeLimitMs}`);
  }
  if (!Number.isInteger(p.maxRounds) || p.maxRounds < 1) {
    throw new BadArgumentError(`max rounds: expected a positive integer, got ${p.maxRounds}`);
  }
  if (!(p.maxTimeMs > 0)) throw new BadArgumentError(`max time: expected a duration > 0, got ${p.maxTimeMs}`);
  if (!(p.maxBandwidthBytesPerSec >= 0) || !Number.isFinite(p.maxBandwidthBytesPerSec)) {
    throw new BadArgumentError(`max bandwidth: expected bytes per second >= 0, got ${p.maxBandwidthBytesPerSec}`);
  }
}

/**
 * Checks the `streams` option (the number of data channels).
 * @throws BadArgumentError unless `streams` is a data-channel count this agent supports
 */
export function checkStreams(streams: number): void {
  if (!Number.isInteger(streams) || streams < 1 || streams > MAX_STREAMS) {
    throw new BadArgumentError(`--streams: expected 1..${MAX_STREAMS}, got ${streams}`);
  }
}

/**
 * What a migration checks before its handshake: its parameters, a guest whose writes are tracked, and its
 * data-channel count. A migration that fails here never connects.
 * @throws BadArgumentError for the first of them that is wrong
 */
export function checkMigratable(guest: Guest, params: MigrationParameters, channelCount: number): void {
  checkParameters(params);
  if (!dirtyLogEnabled(guest.workload)) {
    throw new BadArgumentError('the guest runs with dirty logging off (dirtyLog 0): its writes cannot be tracked, so it cannot be live-migrated');
  }
  checkStreams(channelCount);
}
