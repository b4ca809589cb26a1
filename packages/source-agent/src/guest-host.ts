import { setTimeout as sleep } from 'node:timers/promises';
import type { Guest } from '@livemig/guest';
import { silentLogger, type Logger } from './logger.js';
import { ChannelSenders } from './channel-senders.js';
import { DEFAULT_STREAMS, migrateGuest, type MigrationOptions } from './migration.js';
import type { MigrationReport } from './report.js';

export interface HostOptions {
  /** Migrate the guest there after `migrateAfterMs`; if that fails, keep hosting it here. */
  migration?: MigrationOptions & { afterMs: number };
  /** Stop hosting after this long (the guest's workers are stopped; no digest unless it had finished). */
  runForMs?: number;
  /** Stop hosting when this fires (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  log?: Logger;
}

export interface HostOutcome {
  /** How hosting ended: the guest left, finished its ops, ran for its time, or we were told to stop. */
  ended: 'migrated' | 'finished' | 'run-for' | 'signal';
  migration: MigrationReport | null;
  /** Digest of memory and CPU state once every vCPU did its `ops`: the deterministic oracle's output. */
  finalDigest: string | null;
  opsDone: number;
}

type Wake = 'finished' | 'run-for' | 'signal' | 'migrate';

/**
 * Hosts a running guest until it finishes, migrates away, runs out its time or is signalled.
 * Used by the source agent and, after activation, by the destination agent: a guest that arrived can leave
 * again the same way (A -> B -> A).
 */
export async function hostGuest(guest: Guest, options: HostOptions): Promise<HostOutcome> {
  const log = options.log ?? silentLogger();
  const timers = new AbortController();
  const wakeups: Promise<Wake>[] = [guest.finished.then(() => 'finished' as const)];
  if (options.runForMs !== undefined) wakeups.push(sleepUntil(options.runForMs, 'run-for', timers.signal));
  if (options.signal) wakeups.push(onAbort(options.signal, timers.signal));
  let migration: MigrationReport | null = null;
  // A planned migration's channel threads start now, so the migration does not wait for them.
  const channels = options.migration
    ? (options.migration.channels ?? ChannelSenders.spawn(options.migration.streams ?? DEFAULT_STREAMS))
    : undefined;
  channels?.catch(() => {});
  try {
    if (options.migration) {
      const why = await Promise.race([...wakeups, sleepUntil(options.migration.afterMs, 'migrate', timers.signal)]);
      if (why === 'migrate') {
        migration = await migrateGuest(guest, {
          ...options.migration,
          ...(channels === undefined ? {} : { channels }),
          log,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (migration.status === 'completed') {
          return { ended: 'migrated', migration, finalDigest: null, opsDone: migration.guestOpsAtPark ?? 0 };
        }
      } else {
        log.info({ why }, 'guest stopped before its migration was due');
        void channels?.then((unused) => unused.terminate(), () => {});
      }
    }
    const why = (await Promise.race(wakeups)) as Exclude<Wake, 'migrate'>;
    let finalDigest: string | null = null;
    if (why === 'finished') {
      finalDigest = guest.digest();
    } else {
      await guest.park();
    }
    const opsDone = guest.opsDone();
    await guest.stop();
    return { ended: why, migration, finalDigest, opsDone };
  } finally {
    timers.abort();
  }
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
