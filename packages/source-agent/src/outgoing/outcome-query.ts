import { setTimeout as sleep } from 'node:timers/promises';
import { FrameType, OutcomeDecidedError, OutcomeUnknownError, encodeConfirm, encodeOutcomeQuery, type MigrationOutcome } from '@livemig/protocol';
import { FramedSocket, connectTcp, errorSummary } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';
import { DEFAULT_OUTCOME_TIMEOUT_MS, OUTCOME_RETRY_FIRST_MS, OUTCOME_RETRY_MAX_MS } from './options.js';

interface Answer {
  outcome: MigrationOutcome;
  reason: string | null;
}

/**
 * The outcome query (PROTOCOL.md, "Commit", second diagram and rules 1, 3 and 4): the answer to Complete, or
 * to Confirm, was lost, so this side cannot tell whether the destination runs the guest. It stays parked here
 * and the destination is asked over fresh connections, with backoff, for the migration's outcome timeout.
 * `committed`: Confirm goes out on that connection (again, if it went out before), the guest is released here.
 * `aborted` (only before this side confirmed): the guest resumes here with the error that lost the answer.
 * `discarded` (the destination dropped its parked copy before it ran, journaled): the guest resumes here with
 * OutcomeDecidedError, whether or not this side confirmed.
 * Anything else: OutcomeUnknownError, and the guest stays parked until an operator resolves it.
 * @throws the error that lost the answer, on `aborted`; OutcomeDecidedError on `discarded`; OutcomeUnknownError
 *   otherwise
 */
export async function outcomeQuery(ctx: MigrationContext): Promise<'completed'> {
  const { report, log, guest } = ctx;
  ctx.enter('outcome-query');
  // Destroyed, not aborted: an Abort would make the destination discard a guest it may have to run.
  ctx.connection?.destroy();
  ctx.channels?.terminate();
  log.warn({ err: errorSummary(ctx.outcomeCause), confirmSent: report.confirmSent }, 'answer lost after Complete; asking the destination for the outcome');
  const answer = await askUntilAnswered(ctx);
  if (answer.outcome === 'committed') {
    ctx.committed = true;
    await guest.stop();
    report.status = 'completed';
    log.info('the destination committed and runs the guest; guest released at the source');
    return 'completed';
  }
  if (answer.outcome === 'aborted' && !ctx.committed) {
    log.info({ reason: answer.reason }, 'the destination aborted: the guest resumes here');
    throw ctx.outcomeCause;
  }
  if (answer.outcome === 'discarded') {
    // The destination's copy never ran and is gone for good: resuming here is safe even after Confirm.
    ctx.committed = false;
    log.info({ reason: answer.reason }, 'the destination discarded its committed copy: the guest resumes here');
    throw new OutcomeDecidedError(`the destination discarded its copy of migration ${ctx.id}: ${answer.reason ?? 'no reason given'}`, {
      cause: ctx.outcomeCause,
    });
  }
  const why = answer.outcome === 'aborted' ? 'answered aborted after this side confirmed its commit' : answer.reason ?? 'no answer';
  throw new OutcomeUnknownError(`the destination's outcome for migration ${ctx.id} is unknown after ${report.outcome?.queries ?? 0} queries: ${why}`, {
    cause: ctx.outcomeCause,
  });
}

/** Asks until an answer other than `unknown`, or the outcome timeout; the report's `outcome` follows along. */
async function askUntilAnswered(ctx: MigrationContext): Promise<Answer> {
  const deadline = performance.now() + (ctx.options.outcomeTimeoutMs ?? DEFAULT_OUTCOME_TIMEOUT_MS);
  const outcome = { answer: 'no-answer' as MigrationOutcome | 'no-answer', reason: null as string | null, queries: 0 };
  ctx.report.outcome = outcome;
  let delay = OUTCOME_RETRY_FIRST_MS;
  for (;;) {
    outcome.queries += 1;
    try {
      const answer = await askOnce(ctx, Math.max(1, deadline - performance.now()));
      outcome.answer = answer.outcome;
      outcome.reason = answer.reason;
      if (answer.outcome !== 'unknown') return answer;
    } catch (error) {
      if (outcome.answer === 'no-answer') outcome.reason = errorSummary(error).message;
      ctx.log.debug({ err: errorSummary(error), query: outcome.queries }, 'outcome query failed');
    }
    const remaining = deadline - performance.now();
    if (remaining <= 0) return { outcome: 'unknown', reason: outcome.reason };
    await sleep(Math.min(delay, remaining));
    delay = Math.min(delay * 2, OUTCOME_RETRY_MAX_MS);
  }
}

/**
 * One outcome connection: OutcomeQuery, Outcome, and after `committed` Confirm and Activated.
 * @throws the connection's errors, TimeoutError, UnexpectedFrameError
 */
async function askOnce(ctx: MigrationContext, budgetMs: number): Promise<Answer> {
  const { options, report } = ctx;
  const socket = await connectTcp(options.target, Math.min(ctx.connectTimeoutMs, budgetMs), ctx.security);
  const conn = new FramedSocket(socket, { idleTimeoutMs: ctx.idleTimeoutMs });
  try {
    await conn.send(encodeOutcomeQuery({ migrationId: ctx.id }));
    const frame = await conn.receive(Math.min(ctx.answerTimeoutMs, budgetMs), 'Outcome');
    expectFrame(frame, FrameType.Outcome, 'outcome-query');
    const answer = { outcome: frame.message.outcome, reason: frame.message.reason ?? null };
    if (answer.outcome !== 'committed') return answer;
    // Rule 3: committed means this side lets go; the destination starts the vCPUs on this Confirm.
    ctx.committed = true;
    await conn.send(encodeConfirm({ migrationId: ctx.id }));
    report.confirmSent = true;
    const activated = await conn.receive(ctx.answerTimeoutMs, 'Activated');
    expectFrame(activated, FrameType.Activated, 'outcome-query');
    report.downtimeMs = roundTenth(performance.now() - ctx.parkedAt);
    return answer;
  } finally {
    conn.close();
  }
}
