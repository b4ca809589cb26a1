import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Guest } from '@livemig/guest';
import { silentLogger, type Logger } from '@livemig/agent-runtime';
import { ChannelSenders } from './channel-senders.js';
import { HostBusyError } from './errors.js';
import { DEFAULT_STREAMS, Migration, type MigrationOptions } from './outgoing/index.js';
import type { MigrationReport } from './report.js';
import type { WarmChannels } from './warm-channels.js';

export interface HostOptions {
  /** Identity of the guest, carried by its migrations. */
  guestId?: string;
  /** Migrate the guest there after `migrateAfterMs`; if that fails, keep hosting it here. */
  migration?: MigrationOptions & { afterMs: number };
  /** Stop hosting after this long (the guest's workers are stopped; no digest unless it had finished). */
  runForMs?: number;
  /** Stop hosting when this fires (SIGINT, SIGTERM); a migration in flight is cancelled if it still can be. */
  signal?: AbortSignal;
  log?: Logger;
  /**
   * A migration whose outcome is unknown leaves the guest parked here. With `wait` hosting goes on until an
   * operator resolves it (resume: the guest runs here again; discard: hosting ends); with `end` (the default,
   * when there is no control API to resolve it through) hosting ends at once with that report.
   */
  unresolved?: 'wait' | 'end';
  /** Channel threads spawned ahead, handed to the first migration that asks for as many (warm-channels.ts). */
  warmChannels?: WarmChannels;
}

export interface HostOutcome {
  /** How hosting ended: the guest left, finished its ops, ran for its time, or we were told to stop. */
  ended: 'migrated' | 'finished' | 'run-for' | 'signal';
  /** The last migration attempted, if any. */
  migration: MigrationReport | null;
  /** Digest of memory and CPU state once every vCPU did its `ops`: the deterministic oracle's output. */
  finalDigest: string | null;
  opsDone: number;
}

type Wake = 'finished' | 'run-for' | 'signal' | 'migrated';

export interface GuestHostEvents {
  migration: [migration: Migration];
  ended: [outcome: HostOutcome];
}

/**
 * Hosts one running guest until it finishes, migrates away, runs out its time or is signalled, and starts
 * its outgoing migrations (at most one at a time). Used by the source agent and, after activation, by the
 * destination agent: a guest that arrived can leave again the same way (A -> B -> A).
 */
export class GuestHost extends EventEmitter<GuestHostEvents> {
  readonly guestId: string | undefined;
  /** This host's outgoing migrations by id, oldest first. */
  readonly migrations = new Map<string, Migration>();
  readonly ended: Promise<HostOutcome>;
  private active: Migration | undefined;
  private gone = false;
  private readonly log: Logger;
  private readonly timers = new AbortController();
  private migrated: (report: MigrationReport) => void = () => {};

  constructor(
    readonly guest: Guest,
    private readonly options: Omit<HostOptions, 'migration'> = {},
  ) {
    super();
    this.guestId = options.guestId;
    this.log = options.log ?? silentLogger();
    this.ended = this.host();
    this.ended.then((outcome) => this.emit('ended', outcome), () => {});
  }

  /** The migration in flight, if any. */
  get current(): Migration | undefined {
    return this.active;
  }

  /** Whether the guest still runs here (false once it migrated away or hosting ended). */
  get hosting(): boolean {
    return !this.gone;
  }

  /**
   * Starts a migration of the guest (options are checked as it starts: a bad one ends it as failed).
   * @throws HostBusyError while another one runs or once the guest is gone
   */
  migrate(options: MigrationOptions): Migration {
    if (this.gone) throw new HostBusyError('no guest is hosted here any more');
    if (this.active) throw new HostBusyError(`migration ${this.active.id} is still in progress`);
    const warm = options.channels ?? this.options.warmChannels?.take(options.streams ?? DEFAULT_STREAMS);
    const migration = new Migration(this.guest, {
      log: this.log,
      ...(this.guestId === undefined ? {} : { guestId: this.guestId }),
      ...options,
      ...(warm === undefined ? {} : { channels: warm }),
    });
    this.active = migration;
    this.migrations.set(migration.id, migration);
    void migration.done.then((report) => {
      this.active = undefined;
      if (report.status === 'completed') {
        this.gone = true;
        this.migrated(report);
      } else if (report.error?.code === 'LM_ERR_POSTCOPY_FAILED') {
        // Post-copy failed after the switch: the guest's state is split and the copy here is stale, so it may
        // neither run nor migrate again. With a control API it stays parked (its pages are the only copy of
        // what the destination still lacks) until the operator discards it; without one, hosting ends (exit status 1)
        // and the copy with it.
        this.gone = true;
        // The operator's discard (POST /migrations/:id/discard) dropped the copy: hosting ends here too.
        if (this.options.unresolved !== 'wait' || migration.postcopyDiscarded) {
          void this.guest.stop();
          this.migrated(report);
        }
      } else if (report.status === 'outcome-unknown') {
        this.gone = true;
        if (this.options.unresolved !== 'wait') {
          // Nobody can resolve it here: the parked copy ends with hosting (the process exits with status 3).
          void this.guest.stop();
          return this.migrated(report);
        }
        void migration.resolved.then((action) => {
          if (action === 'discard') this.migrated(report);
          else this.gone = false;
        });
      }
    });
    this.emit('migration', migration);
    return migration;
  }

  private async host(): Promise<HostOutcome> {
    const { guest } = this;
    const signal = this.timers.signal;
    const wakeups: Promise<Wake | MigrationReport>[] = [
      guest.finished.then(() => 'finished' as const),
      new Promise<MigrationReport>((resolve) => {
        this.migrated = resolve;
      }),
    ];
    if (this.options.runForMs !== undefined) wakeups.push(sleepUntil(this.options.runForMs, 'run-for', signal));
    if (this.options.signal) wakeups.push(onAbort(this.options.signal, signal));
    try {
      for (;;) {
        const wake = await Promise.race(wakeups);
        if (typeof wake !== 'string') return this.leftWith(wake);
        const active = this.active;
        if (active) {
          // A finishing guest still migrates; a stop request cancels the migration if it is not too late.
          if (wake !== 'finished') active.cancel(`the agent is stopping (${wake})`);
          const report = await active.done;
          if (report.status === 'completed') return this.leftWith(report);
        }
        this.gone = true;
        let finalDigest: string | null = null;
        if (wake === 'finished') finalDigest = guest.digest();
        else await guest.park();
        const opsDone = guest.opsDone();
        await guest.stop();
        return { ended: wake as Exclude<Wake, 'migrated'>, migration: this.lastReport(), finalDigest, opsDone };
      }
    } finally {
      this.timers.abort();
    }
  }

  private leftWith(report: MigrationReport): HostOutcome {
    this.gone = true;
    return { ended: 'migrated', migration: report, finalDigest: null, opsDone: report.guestOpsAtPark ?? 0 };
  }

  private lastReport(): MigrationReport | null {
    // Every migration is over by now (hosting waits for the active one), so its result is settled.
    return [...this.migrations.values()].at(-1)?.result ?? null;
  }
}

/**
 * Hosts a guest (see GuestHost) and, with `options.migration`, migrates it once `afterMs` has passed
 * (unless hosting ended first). Resolves when hosting ends.
 */
export async function hostGuest(guest: Guest, options: HostOptions): Promise<HostOutcome> {
  const host = new GuestHost(guest, options);
  if (options.migration) planMigration(host, options.migration, options.log);
  return host.ended;
}

/** Starts a migration of `host`'s guest after `planned.afterMs`, unless hosting has ended by then. */
export function planMigration(host: GuestHost, planned: MigrationOptions & { afterMs: number }, log?: Logger): void {
  // A planned migration's channel threads start now, so the migration does not wait for them.
  const channels = planned.channels ?? ChannelSenders.spawn(planned.streams ?? DEFAULT_STREAMS);
  channels.catch(() => {});
  const unused = (): void => void channels.then((senders) => senders.terminate(), () => {});
  const due = new AbortController();
  void host.ended.finally(() => due.abort());
  void sleep(planned.afterMs, undefined, { signal: due.signal }).then(
    () => {
      const { afterMs: _afterMs, ...migration } = planned;
      try {
        host.migrate({ ...migration, channels });
      } catch (error) {
        log?.warn({ err: error }, 'planned migration not started');
        unused();
      }
    },
    () => {
      log?.info('guest stopped before its migration was due');
      unused();
    },
  );
}

async function sleepUntil<T extends Wake>(ms: number, value: T, signal: AbortSignal): Promise<T> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    return new Promise<T>(() => {}); // cancelled: never wins a race
  }
  return value;
}

function onAbort(signal: AbortSignal, cancel: AbortSignal): Promise<Wake> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('signal');
    const listener = (): void => resolve('signal');
    signal.addEventListener('abort', listener, { once: true });
    cancel.addEventListener('abort', () => signal.removeEventListener('abort', listener), { once: true });
  });
}
