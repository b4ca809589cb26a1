import { FrameType } from '@livemig/protocol';
import { errorSummary } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';

/**
 * Phase 6, activation: the guest is the destination's, Confirm is out. Waits for Activated (its vCPUs started
 * there), which ends the downtime, then releases the guest here: its parked workers are stopped and the
 * channels closed. Without the notice the Confirm may have been lost, and the destination would keep the
 * guest parked: it is delivered again over an outcome connection (outcome-query.ts).
 */
export async function activation(ctx: MigrationContext): Promise<'completed' | 'outcome-query'> {
  const { guest, log, report } = ctx;
  const conn = ctx.control;
  const channels = ctx.dataChannels;
  ctx.enter('activation');
  // The parked workers here are stopped only after the notice is read: stopping threads keeps this thread
  // busy, and would be counted as downtime.
  try {
    const activated = await conn.receive(ctx.answerTimeoutMs, 'Activated');
    expectFrame(activated, FrameType.Activated, 'activation');
    report.downtimeMs = roundTenth(performance.now() - ctx.parkedAt);
  } catch (error) {
    // Confirm may not have arrived: the destination would keep the guest parked. Delivered again (rule 3).
    log.warn({ err: errorSummary(error) }, 'committed, but no activation notice from the destination');
    ctx.outcomeCause = error;
    return 'outcome-query';
  }
  await guest.stop();
  log.info('destination committed and activated; guest released at the source');
  await channels.finish().catch(() => channels.terminate());
  conn.close();
  report.status = 'completed';
  return 'completed';
}
