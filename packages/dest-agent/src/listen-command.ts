import { totalmem } from 'node:os';
import { writeFile } from 'node:fs/promises';
import {
  checkControlBinding,
  checkListenSecurity,
  loadControlAccess,
  loadTransportSecurity,
  parseDuration,
  parseHostPort,
  parseSize,
  type ControlAccessArguments,
  type Logger,
  type TlsArguments,
} from '@livemig/agent-runtime';
import { ControlApi, GuestHost, planMigration } from '@livemig/source-agent';
import { BadArgumentError } from '@livemig/protocol';
import { writeReportHtml } from '@livemig/report-html';
import { DestAgent, type ArrivedGuest } from './dest-agent.js';
import type { IncomingReport } from './incoming-report.js';

export interface ListenArguments extends TlsArguments, ControlAccessArguments {
  port: number;
  host: string;
  once: boolean;
  maxMemory?: string;
  maxThreads: number;
  maxIncoming: number;
  prefault?: string;
  runFor?: string;
  report?: string;
  reportHtml?: string;
  disk?: string;
  stateDir?: string;
  migrateTo?: string;
  migrateAfter: string;
  downtimeLimit: string;
  maxRounds: number;
  softPages?: boolean;
  balloon?: boolean;
  controlPort?: number;
  controlHost: string;
}

/** Default --max-memory: half of this host's RAM. */
export function defaultMaxMemory(): number {
  return Math.floor(totalmem() / 2);
}

/**
 * `dest-agent listen`: serves incoming migrations and hosts the guests that arrive. With --once it ends after
 * the first incoming migration: when it failed (status 1), or when the guest it brought has finished its
 * --ops, run for --run-for, or left again with --migrate-to.
 */
export async function listenCommand(args: ListenArguments, log: Logger, signal: AbortSignal): Promise<number> {
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new BadArgumentError(`--port: expected 0..65535, got ${args.port}`);
  }
  const maxMemoryBytes = args.maxMemory === undefined ? defaultMaxMemory() : parseSize(args.maxMemory, 'max-memory');
  for (const [flag, value] of [['--max-threads', args.maxThreads], ['--max-incoming', args.maxIncoming]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 4096) throw new BadArgumentError(`${flag}: expected 1..4096, got ${value}`);
  }
  const prefaultBytes = args.prefault === undefined ? 0 : parseSize(args.prefault, 'prefault');
  if (prefaultBytes > maxMemoryBytes) throw new BadArgumentError(`--prefault: ${args.prefault} is more than --max-memory allows`);
  const runForMs = args.runFor === undefined ? undefined : parseDuration(args.runFor, 'run-for');
  const onward = args.migrateTo === undefined ? undefined : parseHostPort(args.migrateTo);
  const migrateAfterMs = parseDuration(args.migrateAfter, 'migrate-after');
  const downtimeLimitMs = parseDuration(args.downtimeLimit, 'downtime-limit');
  const security = loadTransportSecurity(args);
  checkListenSecurity(args.host, security, args.insecure ?? false, log);
  const access = loadControlAccess(args);
  if (args.controlPort !== undefined) checkControlBinding(args.controlHost, access, () => {});

  const agent = new DestAgent({
    maxMemoryBytes,
    maxThreads: args.maxThreads,
    maxIncoming: args.maxIncoming,
    log,
    security,
    ...(args.stateDir === undefined ? {} : { stateDir: args.stateDir }),
    ...(args.disk === undefined ? {} : { disk: args.disk }),
    prefaultBytes,
  });
  const address = await agent.listen(args.port, args.host);
  process.stdout.write(`listening ${address.host}:${address.port}\n`);
  log.info({ ...address, maxMemoryBytes }, 'destination agent listening');
  // The guest hosted here now (the latest that arrived and has not ended); the control API migrates it onward.
  let hosted: GuestHost | undefined;
  const control =
    args.controlPort === undefined
      ? undefined
      : new ControlApi({
          agent: 'dest',
          host: () => hosted,
          incoming: () => agent.incoming(),
          resolveIncoming: async (id, action) => ({ ...(await agent.resolve(id, action)) }),
          recoverIncoming: (id) => agent.recover(id),
          status: () => ({
            listening: `${address.host}:${address.port}`,
            reservations: { limitBytes: agent.reservations.limitBytes, freeBytes: agent.reservations.freeBytes },
          }),
          migrationDefaults: { security },
          access,
          log,
        });
  if (control) {
    const controlAddress = await control.listen(args.controlPort!, args.controlHost);
    process.stdout.write(`control http://${controlAddress.host}:${controlAddress.port}\n`);
    agent.on('incoming', (source, id) => control.publish('incoming', { id, source }));
    agent.on('failed', (report) => control.publish('incoming-failed', { id: report.id, error: report.error ?? null }));
    agent.on('arrived', (arrival) => control.publish('arrived', { id: arrival.report.id, guestId: arrival.guestId }));
  }

  const writeReport = async (report: IncomingReport): Promise<void> => {
    if (args.report) await writeFile(args.report, `${JSON.stringify(report, null, 2)}\n`);
    if (args.reportHtml) await writeReportHtml(args.reportHtml, { ...report });
  };

  const host = async (arrival: ArrivedGuest): Promise<number> => {
    const guestHost = new GuestHost(arrival.guest, {
      guestId: arrival.guestId,
      log,
      signal,
      ...(runForMs === undefined ? {} : { runForMs }),
    });
    hosted = guestHost;
    control?.watch(guestHost);
    if (onward !== undefined) {
      planMigration(
        guestHost,
        {
          target: onward,
          afterMs: migrateAfterMs,
          downtimeLimitMs,
          maxRounds: args.maxRounds,
          security,
          softPages: args.softPages ?? false,
          balloon: args.balloon ?? false,
        },
        log,
      );
    }
    const outcome = await guestHost.ended;
    // An idle destination holds nothing of a guest that ended: the control API no longer shows it, and its memory
    // may be collected now rather than when the next guest replaces it.
    if (hosted === guestHost) hosted = undefined;
    arrival.reservation.release();
    agent.recycleMemory(arrival.guest.memory);
    if (outcome.finalDigest) process.stdout.write(`final digest ${outcome.finalDigest}\n`);
    const report: IncomingReport = {
      ...arrival.report,
      finalDigest: outcome.finalDigest,
      opsDone: outcome.opsDone,
      ended: outcome.ended,
      onward: outcome.migration,
    };
    await writeReport(report);
    if (outcome.migration && outcome.migration.status !== 'completed') {
      process.stderr.write(`dest-agent: onward migration ${outcome.migration.status}: ${outcome.migration.error?.message} (${outcome.migration.error?.code})\n`);
      return 1;
    }
    return 0;
  };

  return new Promise<number>((resolve) => {
    const finish = (code: number): void => {
      void Promise.all([agent.close(), control?.close()]).then(() => resolve(code));
    };
    if (args.once) agent.once('incoming', () => agent.stopAccepting());
    agent.on('failed', (report) => {
      void writeReport(report).then(() => {
        if (args.once) {
          process.stderr.write(`dest-agent: incoming migration failed: ${report.error?.message} (${report.error?.code})\n`);
          finish(1);
        }
      });
    });
    agent.on('arrived', (arrival) => {
      host(arrival).then(
        (code) => {
          if (args.once) finish(code);
        },
        (error: unknown) => {
          log.error({ err: error }, 'hosting the guest failed');
          if (args.once) finish(1);
        },
      );
    });
    signal.addEventListener('abort', () => {
      // Guests hosted here stop through hostGuest's own signal handling; wait a moment for their reports.
      if (!args.once) setTimeout(() => finish(0), 200);
    }, { once: true });
  });
}
