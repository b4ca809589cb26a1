import { MigrationError, PAGE_SIZE } from '@livemig/protocol';
import {
  ControlServer,
  EventStream,
  controlError,
  createMetrics,
  metricsHandler,
  optionSchema,
  readOptions,
  type ControlAccess,
  type ControlMetrics,
  type ListenAddress,
  type MetricSample,
  parseHostPort,
  type Logger,
  type Route,
} from '@livemig/agent-runtime';
import { renderDashboardHtml } from '@livemig/report-html';
import { HostBusyError } from './errors.js';
import type { GuestHost } from './guest-host.js';
import { isCancellable, isFinalPhase, MAX_STREAMS, MIGRATION_PHASES, SAMPLED_FIELDS, type Migration, type MigrationOptions, type MigrationParameters } from './outgoing/index.js';
import { POLICY_NAMES } from './switchover/index.js';
import { MIGRATION_MODES } from './outgoing/options.js';
import { PREPAGING_NAMES } from './postcopy/push-order.js';
import { postcopyRoutes } from './control-postcopy-routes.js';
import { COMPRESS_MODES } from './compression-choice.js';

/** What an agent exposes through its control API. */
export interface ControlApiSource {
  agent: 'source' | 'dest';
  /** The guest running here now, if any. */
  host(): GuestHost | undefined;
  /** Agent-specific fields of GET /status (the destination: listen address, reservations, incoming). */
  status?(): Record<string, unknown>;
  /** Incoming migrations (the destination), listed by GET /migrations and GET /migrations/:id. */
  incoming?(): { id: string; status: string; postcopy?: { faults: number; pagesRequested: number; blocktimeMs: number } }[];
  /**
   * The destination's operator decision on a committed guest parked waiting for Confirm (POST
   * /migrations/:id/resolve on an incoming id): resolves with its report. @throws MigrationError (409) when
   * that migration holds no parked guest
   */
  resolveIncoming?(id: string, action: 'resume' | 'discard'): Promise<Record<string, unknown>>;
  /** The destination's recovery port for a paused post-copy (POST /migrations/:id/recover). @throws MigrationError (409) */
  recoverIncoming?(id: string): Promise<{ host: string; port: number }>;
  /** Who may use the API: bearer token and allowed Host names (--control-token-file, --control-allow-host). */
  access?: ControlAccess;
  /** Defaults for POST /migrations: the command line's flags, and the agent's credentials (never taken from a request). */
  migrationDefaults?: Partial<MigrationOptions>;
  log?: Logger;
}

/** PATCH /migrations/:id: what QEMU's migrate-set-parameters may change while a migration runs. */
const PARAMETER_OPTIONS = optionSchema({
  policy: { type: 'string', enum: POLICY_NAMES },
  downtimeLimitMs: { type: 'number', min: 0 },
  maxRounds: { type: 'number', integer: true, min: 1 },
  maxTimeMs: { type: 'number', min: 1 },
  maxBandwidthBytesPerSec: { type: 'number', min: 0 },
  autoConverge: { type: 'boolean' },
});

/** POST /migrations: the target, the parameters, and the options of `source-agent run` (bytes, ms). */
const START_OPTIONS = optionSchema({
  target: { type: 'string', required: true },
  ...PARAMETER_OPTIONS,
  streams: { type: 'number', integer: true, min: 1, max: MAX_STREAMS },
  deltaCacheBytes: { type: 'number', integer: true, min: 0 },
  workingSetPages: { type: 'number', integer: true, min: 0 },
  wsPreprocessMs: { type: 'number', min: 0 },
  mode: { type: 'string', enum: MIGRATION_MODES },
  prepaging: { type: 'string', enum: PREPAGING_NAMES },
  postcopyAfterRounds: { type: 'number', integer: true, min: 1 },
  maxPostcopyBandwidthBytesPerSec: { type: 'number', min: 0 },
  postcopyRetries: { type: 'number', integer: true, min: 0 },
  softPages: { type: 'boolean' },
  balloon: { type: 'boolean' },
  interruptTimeoutMs: { type: 'number', min: 0 },
  compress: { type: 'string', enum: COMPRESS_MODES },
});

/**
 * The control API of an agent (JSON over HTTP, 127.0.0.1 by default): status, the guest, its outgoing
 * migrations (start, follow, change parameters, cancel), server-sent events and Prometheus metrics.
 */
export class ControlApi {
  readonly events = new EventStream();
  private readonly server: ControlServer;
  private readonly metrics: ControlMetrics;
  private readonly outgoing = new Map<string, Migration>();
  private readonly watched = new WeakSet<GuestHost>();
  private readonly startedAt = Date.now();

  constructor(private readonly source: ControlApiSource) {
    this.metrics = createMetrics(`livemig_${source.agent}`, METRICS, () => this.samples(), {
      defaultLabels: { agent: source.agent },
    });
    this.server = new ControlServer(this.routes(), { ...(source.log ? { logger: source.log } : {}), ...(source.access ? { access: source.access } : {}) });
  }

  listen(port: number, host = '127.0.0.1'): Promise<ListenAddress> {
    return this.server.listen(port, host);
  }

  close(): Promise<void> {
    this.events.close();
    return this.server.close();
  }

  /** Follows a guest host: its migrations show up in the API and their events on /events. */
  watch(host: GuestHost): void {
    if (this.watched.has(host)) return;
    this.watched.add(host);
    for (const migration of host.migrations.values()) this.follow(migration);
    host.on('migration', (migration) => this.follow(migration));
    host.on('ended', (outcome) => this.events.publish('guest-ended', { guestId: host.guestId ?? null, ended: outcome.ended }));
  }

  /** Publishes an event of the agent's own (e.g. the destination's incoming migrations). */
  publish(event: string, data: unknown): void {
    this.events.publish(event, data);
  }

  private follow(migration: Migration): void {
    if (this.outgoing.has(migration.id)) return;
    this.outgoing.set(migration.id, migration);
    const id = migration.id;
    this.events.publish('migration', { id, guestId: migration.guestId, target: migration.target });
    migration.on('phase', (phase, stats) => this.events.publish('phase', { id, phase, stats }));
    migration.on('round', (round) => this.events.publish('round', { id, ...round }));
    migration.on('progress', (stats) => this.events.publish('progress', stats));
    migration.on('parameters', (parameters) => this.events.publish('parameters', { id, parameters }));
    migration.on('throttle', (percent) => this.events.publish('throttle', { id, throttlePercent: percent }));
    migration.on('done', (report) => this.events.publish('done', { id, report }));
  }

  private find(id: string): Migration {
    const migration = this.outgoing.get(id);
    if (!migration) throw controlError('LM_ERR_NOT_FOUND', `no migration with id "${id}"`);
    return migration;
  }

  private routes(): Route[] {
    const view = (migration: Migration): Record<string, unknown> => ({
      direction: 'out',
      ...migration.stats(),
      postcopy: migration.postcopy ?? null,
      report: migration.result ?? null,
    });
    return [
      // The live dashboard: a page that follows /events and draws the migration's charts (report-html).
      { method: 'GET', path: '/', handler: () => ({ status: 200, text: renderDashboardHtml(this.source.agent, SAMPLED_FIELDS), contentType: 'text/html' }) },
      { method: 'GET', path: '/status', handler: () => ({ status: 200, body: this.status() }) },
      {
        method: 'GET',
        path: '/guest',
        handler: () => {
          const host = this.source.host();
          if (!host || !host.hosting) throw controlError('LM_ERR_NOT_FOUND', 'no guest is running on this agent');
          return { status: 200, body: guestView(host) };
        },
      },
      {
        method: 'GET',
        path: '/migrations',
        handler: () => ({
          status: 200,
          body: {
            outgoing: [...this.outgoing.values()].map((migration) => migration.stats()),
            incoming: this.source.incoming?.() ?? [],
          },
        }),
      },
      {
        method: 'POST',
        path: '/migrations',
        handler: ({ body }) => {
          const { target, ...options } = readOptions(body, START_OPTIONS);
          const host = this.source.host();
          if (!host) throw controlError('LM_ERR_CONFLICT', 'no guest is running on this agent to migrate');
          this.watch(host);
          let migration: Migration;
          try {
            migration = host.migrate({ ...this.source.migrationDefaults, ...options, target: parseHostPort(target) });
          } catch (error) {
            // The guest left or another migration runs: the host says which.
            if (error instanceof HostBusyError) throw controlError('LM_ERR_CONFLICT', error.message);
            throw error;
          }
          return { status: 201, body: view(migration), headers: { location: `/migrations/${migration.id}` } };
        },
      },
      {
        method: 'GET',
        path: '/migrations/:id',
        handler: ({ params }) => {
          const incoming = this.source.incoming?.().find((entry) => entry.id === params.id);
          if (incoming) return { status: 200, body: { direction: 'in', ...incoming } };
          return { status: 200, body: view(this.find(params.id!)) };
        },
      },
      {
        method: 'PATCH',
        path: '/migrations/:id',
        handler: ({ params, body }) => {
          const migration = this.find(params.id!);
          const changes = readOptions(body, PARAMETER_OPTIONS) as Partial<MigrationParameters>;
          if (!isCancellable(migration.phase) || migration.phase === 'stop-and-copy') {
            throw controlError('LM_ERR_CONFLICT', `migration ${migration.id} is in phase ${migration.phase}; its parameters can no longer change`);
          }
          return { status: 200, body: { id: migration.id, parameters: migration.setParameters(changes) } };
        },
      },
      {
        method: 'DELETE',
        path: '/migrations/:id',
        handler: ({ params }) => {
          const migration = this.find(params.id!);
          const phase = migration.phase;
          if (!migration.cancel('cancelled through the control API')) {
            const why = isFinalPhase(phase)
              ? `it has already ${phase === 'completed' ? 'completed' : `ended (${phase})`}`
              : phase === 'post-copy' || phase === 'postcopy-paused'
                ? `it switched to post-copy (${phase}): the guest runs at the destination and is never resumed here; a paused one is resumed (POST /migrations/${migration.id}/resume) or discarded (POST /migrations/${migration.id}/discard)`
                : `it is in phase ${phase}: the destination decides now`;
            throw controlError('LM_ERR_CONFLICT', `migration ${migration.id} cannot be cancelled: ${why}`);
          }
          return { status: 202, body: { id: migration.id, phase, cancelling: true } };
        },
      },
      {
        method: 'POST',
        path: '/migrations/:id/postcopy',
        handler: ({ params }) => {
          const migration = this.find(params.id!);
          if (!migration.startPostcopy()) {
            throw controlError('LM_ERR_CONFLICT', `migration ${migration.id} cannot switch to post-copy: only a hybrid migration in pre-copy can (it is in phase ${migration.phase})`);
          }
          return { status: 202, body: { id: migration.id, phase: migration.phase, postcopyRequested: true } };
        },
      },
      {
        method: 'POST',
        path: '/migrations/:id/resolve',
        handler: async ({ params, body }) => {
          const action = (body as { action?: unknown } | undefined)?.action;
          if (action !== 'resume' && action !== 'discard') {
            throw controlError('LM_ERR_BAD_REQUEST', 'expected {"action": "resume" | "discard"}');
          }
          const incoming = this.source.incoming?.().find((entry) => entry.id === params.id);
          if (incoming && this.source.resolveIncoming) {
            try {
              return { status: 200, body: { direction: 'in', ...(await this.source.resolveIncoming(incoming.id, action)) } };
            } catch (error) {
              if (error instanceof MigrationError) throw controlError('LM_ERR_CONFLICT', error.message);
              throw error;
            }
          }
          const migration = this.find(params.id!);
          try {
            await migration.resolve(action);
            return { status: 200, body: view(migration) };
          } catch (error) {
            if (error instanceof HostBusyError) throw controlError('LM_ERR_CONFLICT', error.message);
            throw error;
          }
        },
      },
      {
        method: 'GET',
        path: '/events',
        handler: ({ req, res }) => {
          this.events.attach(req, res);
          return 'streaming';
        },
      },
      ...postcopyRoutes({
        find: (id) => this.find(id),
        view,
        ...(this.source.recoverIncoming ? { recoverIncoming: this.source.recoverIncoming } : {}),
      }),
      { method: 'GET', path: '/metrics', handler: metricsHandler(this.metrics) },
    ];
  }

  private status(): Record<string, unknown> {
    const host = this.source.host();
    const current = host?.current;
    return {
      agent: this.source.agent,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      guest: host && host.hosting ? guestView(host) : null,
      migration: current ? current.stats() : null,
      migrations: {
        outgoing: this.outgoing.size,
        incoming: this.source.incoming?.().length ?? 0,
      },
      ...this.source.status?.(),
    };
  }

  private samples(): MetricSample[] {
    const samples: MetricSample[] = [];
    const host = this.source.host();
    if (host && host.hosting) {
      samples.push(
        { name: 'guest_memory_bytes', value: host.guest.memory.memoryBytes },
        { name: 'guest_vcpus', value: host.guest.vcpuCount },
        { name: 'guest_ops', value: host.guest.opsDone() },
        { name: 'guest_throttle_percent', value: host.guest.throttlePercent },
      );
    }
    const byStatus = new Map<string, number>();
    for (const migration of this.outgoing.values()) {
      const status = migration.result?.status;
      if (status) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    }
    for (const [status, count] of byStatus) samples.push({ name: 'migrations_total', labels: { direction: 'out', status }, value: count });
    const incoming = new Map<string, number>();
    for (const entry of this.source.incoming?.() ?? []) incoming.set(entry.status, (incoming.get(entry.status) ?? 0) + 1);
    for (const [status, count] of incoming) samples.push({ name: 'migrations_total', labels: { direction: 'in', status }, value: count });
    const arrivedByPostcopy = (this.source.incoming?.() ?? []).filter((entry) => entry.postcopy).at(-1)?.postcopy;
    if (arrivedByPostcopy) {
      samples.push(
        { name: 'incoming_postcopy_faults', labels: { kind: 'faults' }, value: arrivedByPostcopy.faults },
        { name: 'incoming_postcopy_faults', labels: { kind: 'requested' }, value: arrivedByPostcopy.pagesRequested },
        { name: 'incoming_postcopy_blocktime_seconds', value: arrivedByPostcopy.blocktimeMs / 1000 },
      );
    }
    const last = [...this.outgoing.values()].at(-1);
    if (last) {
      const stats = last.stats();
      samples.push(
        { name: 'migration_phase', labels: { phase: stats.phase }, value: MIGRATION_PHASES.indexOf(stats.phase) },
        { name: 'migration_round', value: stats.round },
        { name: 'migration_transferred_bytes', value: stats.transferredBytes },
        { name: 'migration_remaining_bytes', value: stats.remainingBytes },
        { name: 'migration_pages_transferred', value: stats.pagesTransferred },
        { name: 'migration_bandwidth_bytes_per_second', value: stats.bandwidthBytesPerSec },
        { name: 'migration_dirty_pages_rate', value: stats.dirtyPagesRate },
        { name: 'migration_progress_percent', value: stats.progressPercent },
        { name: 'migration_throttle_percent', value: stats.throttlePercent },
      );
      if (stats.expectedDowntimeMs !== null && Number.isFinite(stats.expectedDowntimeMs)) {
        samples.push({ name: 'migration_expected_downtime_seconds', value: stats.expectedDowntimeMs / 1000 });
      }
      if (stats.downtimeMs !== null) samples.push({ name: 'migration_downtime_seconds', value: stats.downtimeMs / 1000 });
      const postcopy = last.postcopy;
      if (postcopy) {
        const kinds = { missing: postcopy.missingAtSwitch, requested: postcopy.pagesRequested, answered: postcopy.pagesAnswered, pushed: postcopy.pagesPushed, 'sent-twice': postcopy.pagesSentTwice };
        for (const [kind, value] of Object.entries(kinds)) samples.push({ name: 'migration_postcopy_pages', labels: { kind }, value });
      }
    }
    return samples;
  }
}

function guestView(host: GuestHost): Record<string, unknown> {
  const { guest } = host;
  return {
    guestId: host.guestId ?? null,
    memoryBytes: guest.memory.memoryBytes,
    pages: guest.memory.memoryBytes / PAGE_SIZE,
    vcpus: guest.vcpuCount,
    workload: guest.workload,
    opsDone: guest.opsDone(),
    parked: guest.parked,
    finished: guest.isFinished(),
    throttlePercent: guest.throttlePercent,
    migrating: host.current?.id ?? null,
  };
}

const METRICS = [
  { name: 'guest_memory_bytes', help: 'Memory of the guest running here.', type: 'gauge' },
  { name: 'guest_vcpus', help: 'vCPUs of the guest running here.', type: 'gauge' },
  { name: 'guest_ops', help: 'Operations the guest running here has done (its workload counter).', type: 'gauge' },
  { name: 'guest_throttle_percent', help: 'vCPU throttle of the guest (auto-converge).', type: 'gauge' },
  { name: 'migrations_total', help: 'Migrations that ended, by direction and status.', type: 'counter', labelNames: ['direction', 'status'] },
  { name: 'migration_phase', help: 'Phase of the latest outgoing migration (label; value is its index).', type: 'gauge', labelNames: ['phase'] },
  { name: 'migration_round', help: 'Rounds begun by the latest outgoing migration (dirty syncs).', type: 'gauge' },
  { name: 'migration_transferred_bytes', help: 'Bytes the latest outgoing migration has written to the destination.', type: 'gauge' },
  { name: 'migration_remaining_bytes', help: 'Guest-memory bytes the latest outgoing migration still has to send.', type: 'gauge' },
  { name: 'migration_pages_transferred', help: 'Guest pages the latest outgoing migration has sent.', type: 'gauge' },
  { name: 'migration_bandwidth_bytes_per_second', help: 'Wire bandwidth over the last window.', type: 'gauge' },
  { name: 'migration_dirty_pages_rate', help: 'Pages dirtied per second during the last round.', type: 'gauge' },
  { name: 'migration_progress_percent', help: 'Progress of the latest outgoing migration (never decreases).', type: 'gauge' },
  { name: 'migration_throttle_percent', help: 'vCPU throttle applied by auto-converge.', type: 'gauge' },
  { name: 'migration_expected_downtime_seconds', help: 'Expected downtime if the guest were stopped now.', type: 'gauge' },
  { name: 'migration_downtime_seconds', help: 'Measured downtime of the latest completed migration.', type: 'gauge' },
  { name: 'incoming_postcopy_faults', help: 'Post-copy of the latest incoming migration that used it, live while it runs: vCPU faults, and pages requested from the source.', type: 'gauge', labelNames: ['kind'] },
  { name: 'incoming_postcopy_blocktime_seconds', help: 'Post-copy of the latest incoming migration that used it, live while it runs: time all vCPUs were blocked at once (QEMU postcopy-blocktime).', type: 'gauge' },
  { name: 'migration_postcopy_pages', help: 'Post-copy of the latest outgoing migration: pages missing at the switch, requested, answered, pushed, sent twice.', type: 'gauge', labelNames: ['kind'] },
] as const;
