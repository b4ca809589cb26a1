import { BadArgumentError, CAPABILITIES, PAGE_SIZE, PROTOCOL_VERSION, encodeHello } from '@livemig/protocol';
import { FramedSocket, connectTcp } from '@livemig/agent-runtime';
import { ChannelSenders } from '../channel-senders.js';
import type { MigrationContext } from './context.js';
import { checkMigratable } from './parameters.js';
import { hasGuestKernel } from './soft-pages.js';

/**
 * Phase 1, handshake: connects to the destination and sends Hello (protocol version, capabilities, guest
 * geometry, workload, data-channel count, token). The channel threads start meanwhile.
 * @throws BadArgumentError before connecting, for parameters out of range or a guest that cannot be
 *   migrated; CancelledError; the connection's errors
 */
export async function handshake(ctx: MigrationContext): Promise<'reservation'> {
  const { guest, options, report } = ctx;
  const { memory } = guest;
  checkMigratable(guest, ctx.params, ctx.channelCount);
  if ((ctx.options.softPages || ctx.options.balloon) && !hasGuestKernel(guest)) {
    throw new BadArgumentError(`--soft-pages, --balloon: the ${guest.workload.name} guest has no kernel to publish soft pages (use the fileserver workload)`);
  }
  ctx.enter('handshake');
  ctx.checkCancelled();
  // Worker threads take ~100 ms to start: let them start while we connect and negotiate.
  ctx.spawned = options.channels ?? ChannelSenders.spawn(ctx.channelCount);
  ctx.spawned.catch(() => {});
  const socket = await ctx.guard(connectTcp(options.target, ctx.connectTimeoutMs));
  ctx.connection = new FramedSocket(socket, { idleTimeoutMs: ctx.idleTimeoutMs });
  ctx.log.info(
    { target: report.target, guestId: report.guestId, migrationId: ctx.id, streams: ctx.channelCount },
    'connected, sending hello',
  );
  await ctx.guard(
    ctx.connection.send(
      encodeHello({
        protocolVersion: PROTOCOL_VERSION,
        capabilities: [...CAPABILITIES],
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
        ...(options.token === undefined ? {} : { token: options.token }),
      }),
    ),
  );
  return 'reservation';
}
