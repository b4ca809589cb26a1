import { setTimeout as sleep } from 'node:timers/promises';
import { markStep } from '@livemig/agent-runtime';
import { PAGE_SIZE } from '@livemig/protocol';
import { RecentRounds, SentHistory, decide, type SwitchoverDecision } from '../switchover/index.js';
import type { MigrationContext } from './context.js';
import { recordRound, sendRound, type SentRound } from './rounds.js';
import { ROUNDS_IN_FLIGHT } from './round-acks.js';
import { DEFAULT_INTERRUPT_TIMEOUT_MS } from './soft-pages.js';
import { DEFAULT_WS_PREPROCESS_MS } from '../working-set/working-set-options.js';

/**
 * Phase 3, iterative pre-copy (Clark et al.): round 1 sends every page ever written (never-written pages are
 * zero); each later round sends the pages dirtied while the one before was sent, until the switchover policy
 * says stop. Auto-converge throttles the vCPUs between rounds.
 *
 * In `postcopy` mode one empty round opens the channels and post-copy follows at once; in `hybrid` the
 * switchover may go to post-copy instead of stop-and-copy (postcopyReason).
 * @throws CancelledError; a data channel's or the control connection's failure
 */
export async function preCopy(ctx: MigrationContext): Promise<'stop-and-copy' | 'post-copy'> {
  const { memory } = ctx.guest;
  ctx.enter('pre-copy');
  if (ctx.mode === 'postcopy') {
    // Pure post-copy: one empty round opens the data channels, then the switch.
    ctx.round = 1;
    await sendRound(ctx, new Uint32Array(0));
    return 'post-copy';
  }
  // Zaw and Thein's framework: the preprocessing phase fills the working-set LRU before round 1; from then on
  // the rounds skip the working set (pushRound) and stop-and-copy sends it.
  const ws = ctx.workingSet;
  if (ws) {
    await ws.preprocess(ctx.options.wsPreprocessMs ?? DEFAULT_WS_PREPROCESS_MS, (ms) => ctx.guard(sleep(ms)));
    ctx.log.info({ workingSetPages: ws.lru.size, preprocessMs: ws.report().preprocessMs }, 'working set predicted');
  }
  await ctx.balloon?.inflate(ctx.options.interruptTimeoutMs ?? DEFAULT_INTERRUPT_TIMEOUT_MS);
  markStep('S pre-copy');
  memory.harvestDirty();
  let pages = ws ? ws.pushRound(memory.touchedPages(), true) : memory.touchedPages();
  const moved = { bytes: 0, ms: 0 };
  /** The last few rounds' guest bytes and sending times (the bandwidth with round acknowledgements). */
  const recent = new RecentRounds();
  ctx.history = new SentHistory(memory.pageCount);
  const dirtyHistory: number[] = [];
  ctx.stats.sample();
  if (nothingToPreCopy(ctx, pages)) {
    ctx.report.switchoverReason = 'nothing-dirty';
    return 'stop-and-copy';
  }
  // A paused guest dirties nothing: one round is the whole image, then stop-and-copy finds nothing new.
  for (;;) {
    ctx.round += 1;
    // SonicMigration: a separate filter on the round's pages, so other selections compose with it.
    if (ctx.softPages) pages = ctx.softPages.round(pages);
    if (ctx.balloon) pages = ctx.balloon.filter(pages);
    markStep(`S round ${ctx.round} posted (${pages.length} pages)`);
    const sent = await sendRound(ctx, pages);
    markStep(`S round ${ctx.round} sent`);
    moved.bytes += pages.length * PAGE_SIZE;
    moved.ms += sent.ms;
    recent.add(pages.length * PAGE_SIZE, sent.ms);
    // The next round may begin once the one before this is acknowledged (round-acks.ts). Waited for before the
    // dirty pages are counted and harvested, so that the next round sends what the guest wrote meanwhile; and the
    // policy then decides with the destination's cost of that round known.
    if (ctx.roundAcks) await ctx.guard(ctx.roundAcks.until(ctx.round + 1 - ROUNDS_IN_FLIGHT));
    // What the next round would send: with a working set, only the dirty pages outside it.
    const dirty = ws ? memory.dirtyCount((page) => ws.lru.has(page)) : memory.dirtyCount();
    dirtyHistory.push(dirty);
    const pagesResent = ctx.history.record(pages);
    const decision = decideSwitchover(ctx, { pages, sent, pagesResent, dirty, dirtyHistory, moved, recent });
    if (ctx.params.autoConverge) autoConverge(ctx, dirty, sent);
    recordRound(
      ctx,
      {
        final: false,
        pagesSent: pages.length,
        pagesResent,
        sent,
        pagesDirtiedMeanwhile: dirty,
        expectedDowntimeMs: decision.expectedDowntimeMs,
        switchoverCostMs: ctx.switchoverCost.ms,
        pageCostMs: ctx.pageCost.msPerPage,
      },
      'pre-copy round sent',
    );
    const postcopy = postcopyReason(ctx, decision, sent, dirty);
    if (postcopy) {
      ctx.report.switchoverReason = postcopy;
      return 'post-copy';
    }
    if (decision.switchover) {
      ctx.report.switchoverReason = decision.reason;
      return 'stop-and-copy';
    }
    ctx.checkCancelled();
    pages = ws ? ws.pushRound(memory.harvestDirty()) : memory.harvestDirty();
  }
}

/**
 * A paused guest that never wrote a page (a zero image) has nothing to pre-copy and cannot dirty anything
 * meanwhile: its stop-and-copy is round 1 (it opens the data channels and sends nothing), with no empty
 * pre-copy round before it, which would cost a round trip through every channel thread on both sides and a
 * switchover decision. Only plain pre-copy without the filters and the working set, whose rounds do more.
 */
function nothingToPreCopy(ctx: MigrationContext, pages: Uint32Array): boolean {
  return pages.length === 0 && !ctx.wasRunning && ctx.mode === 'precopy' && !ctx.workingSet && !ctx.softPages && !ctx.balloon;
}

/** What one pre-copy round left for the switchover decision. */
interface RoundOutcome {
  pages: Uint32Array;
  sent: SentRound;
  pagesResent: number;
  /** Pages dirty now: what the next round, or stop-and-copy, would send. */
  dirty: number;
  /** `dirty` after each round so far. */
  dirtyHistory: number[];
  /** Guest-memory bytes and milliseconds over every pre-copy round so far. */
  moved: { bytes: number; ms: number };
  /** The same over the last few rounds (used with round acknowledgements). */
  recent: RecentRounds;
}

/** Asks the policy in force whether to stop iterating, after feeding the switchover cost this round. */
function decideSwitchover(ctx: MigrationContext, round: RoundOutcome): SwitchoverDecision {
  // Short-window bandwidth (QEMU), falling back to the whole pre-copy's while the window is empty. With round
  // acknowledgements the source idles between rounds while the destination catches up, and a wall-clock window
  // would count that as a slow link: the rate is then the last rounds' own, their bytes over their sending time.
  const windowRate = ctx.roundAcks ? round.recent.rate() : ctx.stats.pages.rate();
  const bandwidthBytesPerMs = windowRate > 0 ? windowRate : round.moved.bytes / Math.max(round.moved.ms, 0.001);
  if (ctx.roundAcks) round.recent.observeLatency(ctx.switchoverCost);
  else ctx.switchoverCost.observeRound(round.pages.length, round.sent.ms, bandwidthBytesPerMs);
  ctx.pageCost.observeRound(ctx.dataChannels.lastRoundCosts);
  return decide(
    {
      round: ctx.round,
      pagesSent: round.pages.length,
      pagesResent: round.pagesResent,
      dirtyPages: round.dirty,
      dirtyHistory: round.dirtyHistory,
      roundMs: round.sent.ms,
      bandwidthBytesPerMs,
      switchoverCostMs: ctx.switchoverCost.ms,
      pageCostMs: ctx.pageCost.msPerPage,
      elapsedMs: performance.now() - ctx.started,
    },
    ctx.params,
  );
}

/** QEMU's auto-converge check at a dirty sync: bytes dirtied against bytes sent in the round. */
function autoConverge(ctx: MigrationContext, dirty: number, sent: SentRound): void {
  const level = ctx.autoConverge.observe(dirty * PAGE_SIZE, sent.bytes);
  if (level !== undefined) {
    ctx.setThrottle(level);
    ctx.log.info({ throttlePercent: level, round: ctx.round }, 'auto-converge: vCPUs throttled');
  }
}

/**
 * hybrid: why to switch to post-copy after this round, or null. Asked for (the API, or --postcopy-after);
 * or the policy stops iterating while the expected downtime is over the limit, where a stop-and-copy would
 * exceed it (QEMU users' escape hatch), with pages still dirty, and only if the round moved pages (KubeVirt's "can finish" guard:
 * no switch while the network is not moving data, since post-copy then stalls the guest too).
 */
function postcopyReason(ctx: MigrationContext, decision: SwitchoverDecision, sent: SentRound, dirty: number): string | null {
  if (ctx.mode !== 'hybrid' || !ctx.postcopyTarget) return null;
  if (ctx.postcopyRequested) return 'postcopy-requested';
  const after = ctx.options.postcopyAfterRounds;
  if (after !== undefined && ctx.round >= after) return 'postcopy-after-rounds';
  if (decision.switchover && dirty > 0 && decision.expectedDowntimeMs > ctx.params.downtimeLimitMs && sent.bytes > 0) return 'postcopy-over-limit';
  return null;
}
