import { BadArgumentError, CAPABILITIES, CAPABILITY_DIRECT_PAGES, CAPABILITY_POSTCOPY, CAPABILITY_ROUND_ACK, PAGE_SIZE, PROTOCOL_VERSION, encodeHello } from '@livemig/protocol';
import { FramedSocket, connectTcp, markStep } from '@livemig/agent-runtime';
import { ChannelSenders } from '../channel-senders.js';
import type { MigrationContext } from './context.js';
import { checkFeatureCombination } from './feature-combinations.js';
import { checkMigratable } from './parameters.js';

/**
 * Phase 1, handshake: connects to the destination and sends Hello (protocol version, capabilities, guest
 * geometry, workload, data-channel count) over the connection secured by the agent's credentials. The channel threads start meanwhile.
 * @throws BadArgumentError before connecting, for parameters out of range or a guest that cannot be
 *   migrated; CancelledError; the connection's errors
 */
export async function handshake(ctx: MigrationContext): Promise<'reservation'> {
  const { guest, options, report } = ctx;
  const { memory } = guest;
  checkMigratable(guest, ctx.params, ctx.channelCount);
  checkFeatureCombination({
    mode: ctx.mode,
    workload: guest.workload.name,
    workingSetPages: ctx.options.workingSetPages ?? 0,
    softPages: ctx.options.softPages ?? false,
    balloon: ctx.options.balloon ?? false,
  });
  const wsPages = ctx.options.workingSetPages ?? 0;
  if (wsPages >= memory.pageCount) {
    throw new BadArgumentError(`working set: expected fewer pages than the guest's ${memory.pageCount}, got ${wsPages}`);
  }
  ctx.enter('handshake');
  markStep('S migration started');
  ctx.checkCancelled();
  // Worker threads take ~100 ms to start: let them start while we connect and negotiate.
  ctx.spawned = options.channels ?? ChannelSenders.spawn(ctx.channelCount);
  ctx.spawned.catch(() => {});
  const socket = await ctx.guard(connectTcp(options.target, ctx.connectTimeoutMs, ctx.security));
  ctx.connection = new FramedSocket(socket, { idleTimeoutMs: ctx.idleTimeoutMs });
  markStep('S connected');
  ctx.log.info(
    { target: report.target, guestId: report.guestId, migrationId: ctx.id, streams: ctx.channelCount },
    'connected, sending hello',
  );
  await ctx.guard(
    ctx.connection.send(
      encodeHello({
        protocolVersion: PROTOCOL_VERSION,
        // Post-copy is offered only when asked for: a destination that agrees opens an urgent port for it.
        // The direct page form relies on the digest check (and repair) at commit, which post-copy has not.
        // Round acknowledgements are read only by pre-copy's rounds (round-acks.ts), not by the switch to post-copy.
        capabilities:
          ctx.mode === 'precopy'
            ? CAPABILITIES.filter((c) => c !== CAPABILITY_DIRECT_PAGES || offersDirectPages(options))
            : [...CAPABILITIES.filter((c) => c !== CAPABILITY_DIRECT_PAGES && c !== CAPABILITY_ROUND_ACK), CAPABILITY_POSTCOPY],
        guestId: report.guestId,
        migrationId: ctx.id,
        geometry: {
          pageSize: PAGE_SIZE,
          memoryBytes: memory.memoryBytes,
          slotBytes: memory.slotBytes,
          vcpus: guest.vcpuCount,
        },
        workload: { ...guest.workload },
        channels: ctx.channelCount,
      }),
    ),
  );
  markStep('S Hello sent');
  return 'reservation';
}

/**
 * Whether a pre-copy migration offers direct-pages-v2: unless turned off. A direct raw page that changes while it
 * is sent is right only because it is dirty and will be sent again; with --soft-pages or --balloon the filters
 * see to that (they never skip a page pre-copy may have sent directly: DirectSends).
 */
export function offersDirectPages(options: { directPages?: boolean }): boolean {
  return options.directPages !== false;
}
