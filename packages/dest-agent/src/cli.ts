import { runCli, withControlAccessOptions, withMigrationCommandOptions, withTlsOptions } from '@livemig/agent-runtime';
import { RUN_DEFAULTS } from '@livemig/source-agent';
import { DEFAULT_MAX_INCOMING } from './admission.js';
import { listenCommand, type ListenArguments } from './listen-command.js';
import { recoverCommand, type RecoverArguments } from './recover-command.js';
import { DEFAULT_MAX_THREADS } from './reservations.js';

/** `dest-agent listen|recover ...`: returns the process exit status. */
export function main(argv: string[]): Promise<number> {
  return runCli('dest-agent', argv, (parser, context) =>
    parser.command(
      'listen',
      'receive live-migrated guests and run them here',
      (command) =>
        withControlAccessOptions(withTlsOptions(command), 'server')
          .option('port', { type: 'number', default: 7400, describe: 'TCP port (0 = any free port)' })
          .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind' })
          .option('once', { type: 'boolean', default: false, describe: 'exit after the first guest finished, ran for --run-for or failed to arrive' })
          .option('max-memory', { type: 'string', describe: 'refuse guests beyond this much memory in total (default: half of RAM)' })
          .option('max-threads', { type: 'number', default: DEFAULT_MAX_THREADS, describe: 'refuse guests beyond this many data channels plus vCPUs in total' })
          .option('max-incoming', { type: 'number', default: DEFAULT_MAX_INCOMING, describe: 'refuse migrations beyond this many arriving at once' })
          .option('prefault', { type: 'string', describe: 'fault in this much guest memory before listening, for the first guests to arrive (default: none)' })
          .option('run-for', { type: 'string', describe: 'host each arrived guest for this long, then stop it' })
          .option('migrate-to', { type: 'string', describe: 'migrate each arrived guest onward to HOST:PORT' })
          .option('migrate-after', { type: 'string', default: '1s', describe: 'with --migrate-to: this long after arrival' })
          .option('downtime-limit', { type: 'string', default: RUN_DEFAULTS.downtimeLimit, describe: 'with --migrate-to' })
          .option('max-rounds', { type: 'number', default: RUN_DEFAULTS.maxRounds, describe: 'with --migrate-to' })
          .option('soft-pages', { type: 'boolean', default: false, describe: 'with --migrate-to: skip the soft pages of guests with a kernel (as source-agent run --soft-pages)' })
          .option('balloon', { type: 'boolean', default: false, describe: 'with --migrate-to: self-ballooning for guests with a kernel (as source-agent run --balloon)' })
          .option('control-port', { type: 'number', describe: 'serve the control API (JSON over HTTP) on this port' })
          .option('control-host', { type: 'string', default: '127.0.0.1', describe: 'address of the control API' })
          .option('disk', { type: 'string', describe: "virtual disk of arriving guests that use one (the source's --disk path, on shared storage)" })
          .option('state-dir', { type: 'string', describe: 'directory of the commit journal (default: livemig-dest-PORT under the OS temp dir)' })
          .option('report', { type: 'string', describe: 'write the JSON report to this file' })
          .option('report-html', { type: 'string', describe: 'write the report as a self-contained HTML page with charts to this file' }),
      async (args) => {
        context.setExitCode(await listenCommand(args as unknown as ListenArguments, context.log, context.signal));
      },
    )
    .command(
      'recover',
      "open the recovery port of a post-copy migration paused here (POST /migrations/:id/recover; QEMU's migrate-recover)",
      (command) =>
        withMigrationCommandOptions(command, 'control API URL of this (the destination) agent', 'the incoming id (or the migration id)'),
      async (args) => {
        context.setExitCode(await recoverCommand(args as unknown as RecoverArguments));
      },
    ),
  );
}
