import { EventEmitter } from 'node:events';
import type { Guest } from '@livemig/guest';
import type { MigrationReport, PostcopySourceReport, RoundReport } from '../report.js';
import { MigrationContext } from './context.js';
import { STATS_SAMPLE_INTERVAL_MS, type MigrationStats } from './live-stats.js';
import type { MigrationOptions } from './options.js';
import { closeReport, finalPhase, handleFailure, withPeerReason } from './outcome.js';
import type { HostPort } from '@livemig/agent-runtime';
import { HostBusyError, PostcopyFailedError } from '../errors.js';
import { checkParameters, type MigrationParameters } from './parameters.js';
import { isCancellable, type MigrationPhase } from './phases.js';
import { runPhases } from './state-machine.js';
import { StatsSeries } from './stats-series.js';

export interface MigrationEvents {
  phase: [phase: MigrationPhase, stats: MigrationStats];
  round: [round: RoundReport];
  progress: [stats: MigrationStats];
  parameters: [parameters: MigrationParameters];
  throttle: [percent: number];
  done: [report: MigrationReport];
}

/**
 * One outgoing live migration: handshake and reservation, iterative pre-copy rounds over the data channels,
 * stop-and-copy with the CPU state, then the destination's commit and activation, each phase in its own
 * file and run by state-machine.ts. Readable while it runs (stats), steerable (setParameters) and
 * cancellable until Complete is out (cancel).
 *
 * `done` never rejects. The source is primary until commit: on any failure or cancel before Committed
 * arrives the guest goes back to what it was doing (running, or paused if it was paused) with its memory
 * untouched and its throttle released, and the report says why. After Committed the guest's workers are
 * stopped here; the destination runs it.
 */
export class Migration extends EventEmitter<MigrationEvents> {
  readonly id: string;
  readonly guestId: string;
  readonly target: string;
  readonly done: Promise<MigrationReport>;
  /** Settles with the operator's decision on an `outcome-unknown` migration (see resolve). */
  readonly resolved: Promise<'resume' | 'discard'>;
  private readonly context: MigrationContext;
  private finalReport: MigrationReport | undefined;
  private settleResolution!: (action: 'resume' | 'discard') => void;
  private readonly series: StatsSeries;

  constructor(guest: Guest, options: MigrationOptions) {
    super();
    this.context = new MigrationContext(this, guest, options);
    this.id = this.context.id;
    this.guestId = this.context.report.guestId;
    this.target = this.context.report.target;
    if (options.signal) {
      if (options.signal.aborted) this.cancel();
      else options.signal.addEventListener('abort', () => this.cancel(), { once: true });
    }
    this.resolved = new Promise((resolve) => (this.settleResolution = resolve));
    this.series = new StatsSeries(this.context.report.series);
    this.on('phase', (phase, stats) => {
      this.context.report.phases.push({ phase, atMs: stats.elapsedMs });
      this.series.mark(stats);
    });
    this.done = this.run();
  }

  /**
   * The operator's decision on a migration whose outcome is unknown (its guest parked here): `resume` runs the
   * guest here again (the status becomes `failed`), `discard` stops it here for good. Only for the operator
   * who knows the destination does not (resume) or does (discard) run the guest; refused while the
   * destination is still being asked.
   * @throws HostBusyError (LM_ERR_BUSY) while the outcome query runs, or when the migration is not
   *   `outcome-unknown` or was resolved already
   */
  async resolve(action: 'resume' | 'discard'): Promise<MigrationReport> {
    const ctx = this.context;
    if (ctx.phase === 'outcome-query') {
      throw new HostBusyError(`migration ${this.id} is still asking the destination for its outcome; resolve it once that has ended`);
    }
    if (ctx.phase !== 'outcome-unknown' || ctx.report.resolution !== null) {
      throw new HostBusyError(`migration ${this.id} is ${ctx.report.resolution ? `resolved already (${ctx.report.resolution.action})` : `in phase ${ctx.phase}`}: nothing to resolve`);
    }
    ctx.report.resolution = { action, at: new Date().toISOString() };
    ctx.log.warn({ action }, 'outcome resolved by the operator');
    if (action === 'resume') {
      ctx.report.status = 'failed';
      ctx.balloon?.deflate();
      if (ctx.wasRunning) ctx.guest.resume();
      ctx.enter('failed');
    } else {
      await ctx.guest.stop();
    }
    this.emit('done', ctx.report);
    this.settleResolution(action);
    return ctx.report;
  }

  /** The report, once the migration is over. */
  get result(): MigrationReport | undefined {
    return this.finalReport;
  }

  get phase(): MigrationPhase {
    return this.context.phase;
  }

  parameters(): MigrationParameters {
    return this.context.parameters();
  }

  /**
   * Cancels the migration if it has not sent Complete yet; the source's guest carries on. Returns false when
   * it is too late (commit or later) or already over.
   */
  /**
   * Switches a running hybrid migration to post-copy once the round in flight is sent (QEMU's
   * migrate-start-postcopy). @returns false unless it is hybrid, in pre-copy, with a destination that serves it
   */
  startPostcopy(): boolean {
    const ctx = this.context;
    if (ctx.mode !== 'hybrid' || ctx.phase !== 'pre-copy' || !ctx.postcopyTarget) return false;
    ctx.postcopyRequested = true;
    return true;
  }

  /**
   * Resumes a paused post-copy (QEMU's `migrate -r`): reconnects to `target` (the destination's recovery port
   * from its POST /migrations/:id/recover, or its main port), where the destination sends its present map.
   * @throws HostBusyError (LM_ERR_BUSY) unless the migration is `postcopy-paused` and waiting (not in an attempt)
   */
  resumePostcopy(target: HostPort = this.context.options.target): void {
    const ctx = this.context;
    if (ctx.phase !== 'postcopy-paused' || !ctx.resumeRequests.resume(target)) {
      throw new HostBusyError(`migration ${this.id} is in phase ${ctx.phase}${ctx.phase === 'postcopy-paused' ? ' and a recovery attempt is running' : ''}: only a paused post-copy can be resumed`);
    }
  }

  /**
   * The operator's way out of a paused post-copy whose destination is gone for good: the parked copy here is
   * dropped (the guest is lost, as in every post-copy implementation), the migration ends `failed` with
   * LM_ERR_POSTCOPY_FAILED. Resolves with its report.
   * @throws HostBusyError (LM_ERR_BUSY) unless the migration is `postcopy-paused`
   */
  async discardPostcopy(): Promise<MigrationReport> {
    const ctx = this.context;
    if (ctx.phase !== 'postcopy-paused') throw new HostBusyError(`migration ${this.id} is in phase ${ctx.phase}: only a paused post-copy can be discarded`);
    if (!ctx.resumeRequests.waiting) throw new HostBusyError(`migration ${this.id} is trying to recover now: discard it once that attempt has ended`);
    ctx.postcopyDiscarded = true;
    ctx.resumeRequests.discard(new PostcopyFailedError('post-copy discarded by the operator while paused: the copy at the source is dropped, and with it the pages the destination lacked'));
    return this.done;
  }

  /** Whether the operator discarded this migration's paused post-copy (its copy here is dropped). */
  get postcopyDiscarded(): boolean {
    return this.context.postcopyDiscarded;
  }

  /** Post-copy's page counts so far (the report's `postcopy`), once the migration switched; else undefined. */
  get postcopy(): PostcopySourceReport | undefined {
    return this.context.report.postcopy;
  }

  cancel(reason = 'migration cancelled at the source'): boolean {
    if (!isCancellable(this.context.phase)) return false;
    this.context.abort(reason);
    return true;
  }

  /**
   * Changes parameters of a running migration; they apply from the next decision (policy, limits) or the
   * next frame (bandwidth). @throws BadArgumentError for a value out of range
   */
  setParameters(changes: Partial<MigrationParameters>): MigrationParameters {
    const ctx = this.context;
    const next = { ...ctx.params, ...changes };
    checkParameters(next);
    Object.assign(ctx.params, next);
    ctx.limiter.setRate(ctx.phase === 'stop-and-copy' ? 0 : next.maxBandwidthBytesPerSec);
    if (!next.autoConverge && ctx.autoConverge.throttlePercent > 0) ctx.setThrottle(0);
    ctx.log.info({ parameters: ctx.params }, 'migration parameters changed');
    this.emit('parameters', this.parameters());
    return this.parameters();
  }

  stats(): MigrationStats {
    return this.context.stats.snapshot();
  }

  private async run(): Promise<MigrationReport> {
    const ctx = this.context;
    const ticker = setInterval(() => {
      ctx.stats.sample();
      const stats = this.stats();
      this.series.tick(stats);
      this.emit('progress', stats);
    }, STATS_SAMPLE_INTERVAL_MS);
    ticker.unref();
    // Let the caller subscribe before the first phase event.
    await Promise.resolve();
    try {
      await runPhases(ctx);
    } catch (error) {
      handleFailure(ctx, await withPeerReason(ctx, error));
    } finally {
      clearInterval(ticker);
      ctx.workingSet?.stop();
      closeReport(ctx);
    }
    this.finalReport = ctx.report;
    ctx.enter(finalPhase(ctx.report.status));
    this.emit('done', ctx.report);
    if (ctx.report.status === 'completed') ctx.releaseGuest();
    return ctx.report;
  }
}

/** Starts a migration; `migration.done` resolves with its report (never rejects). */
export function startMigration(guest: Guest, options: MigrationOptions): Migration {
  return new Migration(guest, options);
}
