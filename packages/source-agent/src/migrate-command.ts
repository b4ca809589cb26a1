import { setTimeout as sleep } from 'node:timers/promises';
import { controlClient, parseDuration, postToMigration, printJson, type MigrationCommandArguments, parseHostPort, parseRate, parseSize, type Logger } from '@livemig/agent-runtime';
import type { MigrationStats } from './outgoing/live-stats.js';
import { isFinalPhase } from './outgoing/phases.js';
import { ProgressBar } from './progress-bar.js';
import type { MigrationReport } from './report.js';
import { OUTCOME_UNKNOWN_EXIT_STATUS } from './run-command.js';
import { requirePolicyName } from './switchover/index.js';

export interface MigrateArguments {
  control: string;
  controlTokenFile?: string;
  to: string;
  policy?: string;
  downtimeLimit?: string;
  maxRounds?: number;
  maxTime?: string;
  maxBandwidth?: string;
  autoConverge?: boolean;
  streams?: number;
  deltaCache?: string;
  workingSet?: number;
  wsPreprocess?: string;
  mode?: string;
  prepaging?: string;
  postcopyAfter?: number;
  postcopyRetries?: number;
  maxPostcopyBandwidth?: string;
  compress?: string;
  softPages?: boolean;
  balloon?: boolean;
  interruptTimeout?: string;
  json: boolean;
}

/** How often the migration is polled for the progress bar. */
const POLL_MS = 200;

/**
 * `source-agent migrate`: starts a migration on a running source agent through its control API and follows
 * it to the end. The first SIGINT cancels the migration (DELETE), the agent's guest carries on there.
 * Returns 0 when it completed, 1 otherwise.
 */
export async function migrateCommand(args: MigrateArguments, log: Logger, signal: AbortSignal): Promise<number> {
  const client = controlClient(args);
  parseHostPort(args.to);
  const options: Record<string, unknown> = { target: args.to };
  if (args.policy !== undefined) options.policy = requirePolicyName(args.policy, '--policy');
  if (args.downtimeLimit !== undefined) options.downtimeLimitMs = parseDuration(args.downtimeLimit, 'downtime-limit');
  if (args.maxRounds !== undefined) options.maxRounds = args.maxRounds;
  if (args.maxTime !== undefined) options.maxTimeMs = parseDuration(args.maxTime, 'max-time');
  if (args.maxBandwidth !== undefined) options.maxBandwidthBytesPerSec = parseRate(args.maxBandwidth, 'max-bandwidth');
  if (args.autoConverge !== undefined) options.autoConverge = args.autoConverge;
  if (args.streams !== undefined) options.streams = args.streams;
  if (args.deltaCache !== undefined) options.deltaCacheBytes = parseSize(args.deltaCache, 'delta-cache');
  if (args.workingSet !== undefined) options.workingSetPages = args.workingSet;
  if (args.wsPreprocess !== undefined) options.wsPreprocessMs = parseDuration(args.wsPreprocess, 'ws-preprocess');
  // Checked by the agent (400 LM_ERR_BAD_ARGUMENT names the field).
  if (args.mode !== undefined) options.mode = args.mode;
  if (args.prepaging !== undefined) options.prepaging = args.prepaging;
  if (args.postcopyAfter !== undefined) options.postcopyAfterRounds = args.postcopyAfter;
  if (args.postcopyRetries !== undefined) options.postcopyRetries = args.postcopyRetries;
  if (args.maxPostcopyBandwidth !== undefined) options.maxPostcopyBandwidthBytesPerSec = parseRate(args.maxPostcopyBandwidth, 'max-postcopy-bandwidth');
  if (args.compress !== undefined) options.compress = args.compress;
  if (args.softPages !== undefined) options.softPages = args.softPages;
  if (args.balloon !== undefined) options.balloon = args.balloon;
  if (args.interruptTimeout !== undefined) options.interruptTimeoutMs = parseDuration(args.interruptTimeout, 'interrupt-timeout');

  const started = await client.post<MigrationStats>('/migrations', options);
  const path = `/migrations/${encodeURIComponent(started.id)}`;
  log.info({ id: started.id, target: args.to }, 'migration started');
  const cancel = (): void => {
    void client.delete(path).then(
      () => log.warn({ id: started.id }, 'cancel requested'),
      (error: unknown) => log.warn({ err: error }, 'cancel refused'),
    );
  };
  signal.addEventListener('abort', cancel, { once: true });
  const bar = new ProgressBar(process.stderr);
  let view: MigrationStats & { report: MigrationReport | null };
  try {
    for (;;) {
      view = await client.get<MigrationStats & { report: MigrationReport | null }>(path);
      bar.update(view);
      if (isFinalPhase(view.phase) && view.report) break;
      await sleep(POLL_MS);
    }
  } finally {
    signal.removeEventListener('abort', cancel);
    bar.finish();
  }
  const report = view.report;
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.status === 'completed') {
    if (!args.json) {
      process.stdout.write(
        `migration ${started.id} completed: ${report.rounds.length} rounds, downtime ${report.downtimeMs ?? '-'} ms, total ${report.totalTimeMs} ms\n`,
      );
    }
    return 0;
  }
  process.stderr.write(`source-agent: migration ${report.status}: ${report.error?.message ?? 'unknown cause'} (${report.error?.code})\n`);
  // The guest is parked at the source and may be at the destination: the operator decides (source-agent resolve).
  return report.status === 'outcome-unknown' ? OUTCOME_UNKNOWN_EXIT_STATUS : 1;
}

/** `source-agent status`: prints the agent's GET /status as JSON. */
export interface ResolveArguments extends MigrationCommandArguments {
  action: 'resume' | 'discard';
}

/**
 * `source-agent resolve`: the operator's decision on an `outcome-unknown` migration; prints the migration as
 * the agent then shows it.
 * @throws ControlClientError when the agent refuses (409 while it still asks the destination, or nothing to resolve)
 */
export async function resolveCommand(args: ResolveArguments): Promise<number> {
  return printJson(await postToMigration(args, 'resolve', { action: args.action }));
}

export async function statusCommand(args: { control: string; controlTokenFile?: string }): Promise<number> {
  return printJson(await controlClient(args).get<unknown>('/status'));
}
