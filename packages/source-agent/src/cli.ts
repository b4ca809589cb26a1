import { runCli } from '@livemig/agent-runtime';
import { WORKLOAD_NAMES } from '@livemig/guest';
import { migrateCommand, resolveCommand, statusCommand, type MigrateArguments, type ResolveArguments } from './migrate-command.js';
import { RUN_DEFAULTS, runCommand, type RunArguments } from './run-command.js';

/** `source-agent run ...`: returns the process exit status. */
export function main(argv: string[]): Promise<number> {
  return runCli('source-agent', argv, (parser, context) =>
    parser.command(
      'run',
      'boot a guest on vCPU worker threads and optionally live-migrate it to a destination agent',
      (command) =>
        command
          .option('memory', { type: 'string', describe: 'guest memory size (e.g. 256MiB, 6GiB; default 256MiB, or the image file size)' })
          .option('image-file', { type: 'string', describe: 'start guest memory as the bytes of this raw image file' })
          .option('paused', { type: 'boolean', default: false, describe: 'boot with every vCPU parked (a paused guest migrates as pure stop-and-copy)' })
          .option('vcpus', { type: 'number', default: 2, describe: 'number of vCPUs (worker threads)' })
          .option('workload', {
            type: 'string',
            default: 'hotcold',
            choices: WORKLOAD_NAMES,
            describe: 'what the vCPUs run',
          })
          .option('seed', { type: 'number', default: 1, describe: 'workload seed (deterministic runs)' })
          .option('ops', { type: 'number', default: 0, describe: 'operations per vCPU before the guest finishes (0 = forever)' })
          .option('dirty-rate', { type: 'string', describe: 'bytes of pages dirtied per second by the whole guest (0 = flat out)' })
          .option('hot-bytes', { type: 'string', describe: 'hotcold: size of the hot set' })
          .option('migrate-to', { type: 'string', describe: 'destination agent HOST:PORT' })
          .option('migrate-after', { type: 'string', default: '1s', describe: 'start the migration this long after boot' })
          .option('downtime-limit', { type: 'string', default: RUN_DEFAULTS.downtimeLimit, describe: 'switch to stop-and-copy once the expected downtime is under this' })
          .option('max-rounds', { type: 'number', default: RUN_DEFAULTS.maxRounds, describe: 'at most this many pre-copy rounds' })
          .option('max-time', { type: 'string', describe: 'stop iterating once the migration has run this long' })
          .option('policy', { type: 'string', default: 'downtime', describe: 'switchover policy: downtime (QEMU), xen, patterns (Ibrahim et al.)' })
          .option('max-bandwidth', { type: 'string', describe: 'limit pre-copy to this many bytes per second over all streams (e.g. 3MB/s)' })
          .option('auto-converge', { type: 'boolean', default: false, describe: 'throttle the vCPUs when they dirty pages faster than they are sent' })
          .option('streams', { type: 'number', default: RUN_DEFAULTS.streams, describe: 'data channels (TCP connections with an encoding thread each)' })
          .option('delta-cache', { type: 'string', default: RUN_DEFAULTS.deltaCache, describe: 'memory for delta-encoding resent pages (0 = off)' })
          .option('compress', { type: 'string', default: RUN_DEFAULTS.compress, describe: 'page compression: auto (per batch, by the measured link and cores), none, lz4, zstd' })
          .option('control-port', { type: 'number', describe: 'serve the control API (JSON over HTTP) on this port; the agent then runs until signalled' })
          .option('control-host', { type: 'string', default: '127.0.0.1', describe: 'address of the control API' })
          .option('run-for', { type: 'string', describe: 'stop hosting the guest after this long' })
          .option('token', { type: 'string', describe: 'shared secret the destination expects in the handshake' })
          .option('answer-timeout', { type: 'string', describe: "after Complete, wait this long for each of the destination's answers (Committed, Activated, Outcome) before taking it as lost (default 60s)" })
          .option('outcome-timeout', { type: 'string', describe: 'after a lost answer to Complete, ask the destination for the outcome this long (default 60s)' })
          .option('report', { type: 'string', describe: 'write the JSON report to this file' }),
      async (args) => {
        context.setExitCode(await runCommand(args as unknown as RunArguments, context.log, context.signal));
      },
    )
    .command(
      'migrate',
      'start a migration on a running source agent (its control API) and follow it with a progress bar',
      (command) =>
        command
          .option('control', { type: 'string', demandOption: true, describe: 'control API of the source agent (e.g. http://127.0.0.1:7400)' })
          .option('to', { type: 'string', demandOption: true, describe: 'destination agent HOST:PORT' })
          .option('policy', { type: 'string', describe: 'switchover policy: downtime, xen, patterns' })
          .option('downtime-limit', { type: 'string', describe: 'switch to stop-and-copy once the expected downtime is under this' })
          .option('max-rounds', { type: 'number', describe: 'at most this many pre-copy rounds' })
          .option('max-time', { type: 'string', describe: 'stop iterating once the migration has run this long' })
          .option('max-bandwidth', { type: 'string', describe: 'limit pre-copy to this many bytes per second (e.g. 3MB/s)' })
          .option('auto-converge', { type: 'boolean', describe: 'throttle the vCPUs when they dirty pages faster than they are sent' })
          .option('streams', { type: 'number', describe: 'data channels' })
          .option('delta-cache', { type: 'string', describe: 'memory for delta-encoding resent pages' })
          .option('token', { type: 'string', describe: 'shared secret the destination expects' })
          .option('json', { type: 'boolean', default: false, describe: 'print the final report as JSON' }),
      async (args) => {
        context.setExitCode(await migrateCommand(args as unknown as MigrateArguments, context.log, context.signal));
      },
    )
    .command(
      'resolve',
      "decide a migration whose outcome is unknown (POST /migrations/:id/resolve): resume the guest here, or discard it here",
      (command) =>
        command
          .option('control', { type: 'string', demandOption: true, describe: 'control API URL' })
          .option('id', { type: 'string', demandOption: true, describe: 'the migration id' })
          .option('action', { type: 'string', choices: ['resume', 'discard'], demandOption: true, describe: 'resume: the guest runs here again; discard: it is dropped here' }),
      async (args) => {
        context.setExitCode(await resolveCommand(args as unknown as ResolveArguments));
      },
    )
    .command(
      'status',
      "print a running agent's status (GET /status) as JSON",
      (command) => command.option('control', { type: 'string', demandOption: true, describe: 'control API URL' }),
      async (args) => {
        context.setExitCode(await statusCommand(args as unknown as { control: string }));
      },
    ),
  );
}
