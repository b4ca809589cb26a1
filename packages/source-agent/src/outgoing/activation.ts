import { FrameType } from '@livemig/protocol';
import { errorSummary } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { MigrationContext } from './context.js';
import { expectFrame } from './expect-frame.js';

/**
 * Phase 6, activation: the guest is the destination's. Waits for Activated (its vCPUs started there), which
 * ends the downtime, then releases the guest here: its parked workers are stopped and the channels closed.
 * A missing notice is logged, not a failure: the destination committed.
 */
export async function activation(ctx: MigrationContext): Promise<'completed'> {
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
    log.warn({ err: errorSummary(error) }, 'committed, but no activation notice from the destination');
  }
  await guest.stop();
  log.info('destination committed and activated; guest released at the source');
  await channels.finish().catch(() => channels.terminate());
  conn.close();
  report.status = 'completed';
  return 'completed';
}
