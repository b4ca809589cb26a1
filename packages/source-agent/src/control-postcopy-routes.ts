import { MigrationError } from '@livemig/protocol';
import { controlError, parseHostPort, type HostPort, type Route } from '@livemig/agent-runtime';
import type { Migration } from './outgoing/index.js';

/** What the post-copy recovery routes need from the control API. */
export interface PostcopyRouteContext {
  /** The outgoing migration `id`. @throws ControlError LM_ERR_NOT_FOUND */
  find(id: string): Migration;
  /** The destination's QEMU migrate-recover for an incoming id (dest-agent only). */
  recoverIncoming?(id: string): Promise<{ host: string; port: number }>;
  view(migration: Migration): Record<string, unknown>;
}

/** `{"target": "HOST:PORT"}`, `{"port": N}` (the migration's own host) or nothing (its own target). */
function resumeTarget(migration: Migration, body: unknown): HostPort | undefined {
  const { target, port } = (body ?? {}) as { target?: unknown; port?: unknown };
  if (typeof target === 'string') return parseHostPort(target);
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) {
    return { host: parseHostPort(migration.target).host, port };
  }
  if (target !== undefined || port !== undefined) throw controlError('LM_ERR_BAD_REQUEST', 'expected {"target": "HOST:PORT"} or {"port": 1..65535}');
  return undefined;
}

/**
 * Post-copy recovery through the control API (QEMU: migrate-recover at the destination, migrate -r at the
 * source): POST /migrations/:id/recover on the destination opens a recovery port, POST /migrations/:id/resume
 * on the source reconnects there, POST /migrations/:id/discard on the source drops a paused copy for good.
 * Each answers 409 (LM_ERR_CONFLICT) when the migration is not in a state that allows it.
 */
export function postcopyRoutes(ctx: PostcopyRouteContext): Route[] {
  const conflict = (error: unknown): never => {
    if (error instanceof MigrationError) throw controlError('LM_ERR_CONFLICT', error.message);
    throw error;
  };
  return [
    {
      method: 'POST',
      path: '/migrations/:id/recover',
      handler: async ({ params }) => {
        if (!ctx.recoverIncoming) throw controlError('LM_ERR_NOT_FOUND', 'only a destination agent recovers incoming migrations');
        const address = await ctx.recoverIncoming(params.id!).catch(conflict);
        return { status: 200, body: { id: params.id, ...address } };
      },
    },
    {
      method: 'POST',
      path: '/migrations/:id/resume',
      handler: ({ params, body }) => {
        const migration = ctx.find(params.id!);
        const target = resumeTarget(migration, body);
        try {
          migration.resumePostcopy(target);
        } catch (error) {
          conflict(error);
        }
        return { status: 202, body: { id: migration.id, phase: migration.phase, resuming: target ?? migration.target } };
      },
    },
    {
      method: 'POST',
      path: '/migrations/:id/discard',
      handler: async ({ params }) => {
        const migration = ctx.find(params.id!);
        await migration.discardPostcopy().catch(conflict);
        return { status: 200, body: ctx.view(migration) };
      },
    },
  ];
}
