import { runCli, withControlAccessOptions, withMigrationCommandOptions, withTlsOptions } from '@livemig/agent-runtime';
import { WORKLOAD_NAMES } from '@livemig/guest';
import { migrateCommand, resolveCommand, statusCommand, type MigrateArguments, type ResolveArguments } from './migrate-command.js';
import { reportCommand, type ReportArguments } from './report-command.js';
import { modelCommand, type ModelArguments } from './model/model-command.js';
import { discardCommand, resumeCommand, type PostcopyCommandArguments, type ResumeArguments } from './postcopy-commands.js';
import { GUEST_KERNEL_BEHAVIOURS } from './disk-options.js';
import { RUN_DEFAULTS, runCommand, type RunArguments } from './run-command.js';

/** `source-agent run ...`: returns the process exit status. */
export function main(argv: string[]): Promise<number> {
  return runCli('source-agent', argv, (parser, context) =>
    parser.command(
      'run',
      'boot a guest on vCPU worker threads and optionally live-migrate it to a destination agent',
      (command) =>
        withControlAccessOptions(withTlsOptions(command), 'server')
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
          .option('disk', { type: 'string', describe: 'fileserver: the virtual disk, a raw file (created with the seed\'s contents if missing); the destination opens the same path' })
          .option('disk-bytes', { type: 'string', describe: 'fileserver: disk size the workload uses (default 16MiB)' })
          .option('cache-bytes', { type: 'string', describe: 'fileserver: page-cache size, whole guest (default 8MiB)' })
          .option('anon-bytes', { type: 'string', describe: 'fileserver: anonymous (user-land) memory, whole guest (default 4MiB)' })
          .option('hint-interval', { type: 'string', describe: 'fileserver: how often the guest kernel publishes its soft pages (default 50ms)' })
          .option('guest-kernel', { type: 'string', choices: GUEST_KERNEL_BEHAVIOURS, describe: 'fileserver, for tests: a guest kernel that is honest (default), never answers the pre-suspend interrupt, or calls its anonymous pages soft' })
          .option('soft-pages', { type: 'boolean', default: false, describe: "skip the pages the guest kernel calls soft (free, clean cache) and raise its pre-suspend interrupt before stop-and-copy (SonicMigration)" })
          .option('balloon', { type: 'boolean', default: false, describe: 'self-ballooning: the guest kernel gives its free pages back first, and they are never read nor sent' })
          .option('interrupt-timeout', { type: 'string', describe: 'with --soft-pages or --balloon: how long to wait for the guest kernel to answer the pre-suspend interrupt or inflate the balloon (default 1s); after it soft pages are sent' })
          .option('migrate-to', { type: 'string', describe: 'destination agent HOST:PORT' })
          .option('migrate-after', { type: 'string', default: '1s', describe: 'start the migration this long after boot' })
          .option('downtime-limit', { type: 'string', default: RUN_DEFAULTS.downtimeLimit, describe: 'switch to stop-and-copy once the expected downtime is under this' })
          .option('max-rounds', { type: 'number', default: RUN_DEFAULTS.maxRounds, describe: 'at most this many pre-copy rounds' })
          .option('max-time', { type: 'string', describe: 'stop iterating once the migration has run this long' })
          .option('policy', { type: 'string', default: 'downtime', describe: 'switchover policy: downtime (QEMU), xen, patterns (Ibrahim et al.)' })
          .option('mode', { type: 'string', default: 'precopy', describe: 'precopy; postcopy: run the guest at the destination at once and serve its pages from here; hybrid: pre-copy, then post-copy where stop-and-copy would exceed the downtime limit' })
          .option('prepaging', { type: 'string', default: 'bubble', describe: 'post-copy push order: bubble (Hines and Gopalan), forward (QEMU), linear (Cloud Hypervisor)' })
          .option('postcopy-after', { type: 'number', describe: 'hybrid: switch to post-copy after this many pre-copy rounds' })
          .option('postcopy-retries', { type: 'number', default: 0, describe: 'post-copy paused (a connection lost after the switch): reconnect by itself this many times, with a bounded backoff' })
          .option('max-postcopy-bandwidth', { type: 'string', describe: "limit post-copy's push to this many bytes per second (QEMU's max-postcopy-bandwidth; default unlimited)" })
          .option('max-bandwidth', { type: 'string', describe: 'limit pre-copy to this many bytes per second over all streams (e.g. 3MB/s)' })
          .option('auto-converge', { type: 'boolean', default: false, describe: 'throttle the vCPUs when they dirty pages faster than they are sent' })
          .option('streams', { type: 'number', default: RUN_DEFAULTS.streams, describe: 'data channels (TCP connections with an encoding thread each)' })
          .option('delta-cache', { type: 'string', default: RUN_DEFAULTS.deltaCache, describe: 'memory for delta-encoding resent pages (0 = off)' })
          .option('compress', { type: 'string', default: RUN_DEFAULTS.compress, describe: 'page compression: auto (per batch, by the measured link and cores), none, lz4, zstd' })
          .option('direct-pages', { type: 'boolean', default: true, describe: 'pre-copy: write raw pages from guest memory without copying them, checked end to end and repaired at commit (direct-pages-v2); --no-direct-pages keeps the plain batch form' })
          .option('control-port', { type: 'number', describe: 'serve the control API (JSON over HTTP) on this port; the agent then runs until signalled' })
          .option('control-host', { type: 'string', default: '127.0.0.1', describe: 'address of the control API' })
          .option('run-for', { type: 'string', describe: 'stop hosting the guest after this long' })
          .option('answer-timeout', { type: 'string', describe: "after Complete, wait this long for each of the destination's answers (Committed, Activated, Outcome) before taking it as lost (default 60s)" })
          .option('working-set', { type: 'number', describe: 'working-set prediction (Zaw and Thein): rounds skip the LRU working set of this many pages, stop-and-copy sends it (0 = off)' })
          .option('ws-preprocess', { type: 'string', describe: 'with --working-set: its preprocessing phase before round 1 (default 1s)' })
          .option('outcome-timeout', { type: 'string', describe: 'after a lost answer to Complete, ask the destination for the outcome this long (default 60s)' })
          .option('report', { type: 'string', describe: 'write the JSON report to this file' })
          .option('report-html', { type: 'string', describe: 'write the report as a self-contained HTML page with charts to this file' }),
      async (args) => {
        context.setExitCode(await runCommand(args as unknown as RunArguments, context.log, context.signal));
      },
    )
    .command(
      'migrate',
      'start a migration on a running source agent (its control API) and follow it with a progress bar',
      (command) =>
        withControlAccessOptions(command, 'client')
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
          .option('working-set', { type: 'number', describe: 'working-set prediction: rounds skip this many LRU pages, stop-and-copy sends them (0 = off)' })
          .option('ws-preprocess', { type: 'string', describe: 'with --working-set: its preprocessing phase before round 1' })
          .option('mode', { type: 'string', describe: 'precopy, postcopy or hybrid' })
          .option('prepaging', { type: 'string', describe: 'post-copy push order: bubble, forward, linear' })
          .option('postcopy-after', { type: 'number', describe: 'hybrid: switch to post-copy after this many pre-copy rounds' })
          .option('postcopy-retries', { type: 'number', describe: 'post-copy paused: reconnect by itself this many times, with a bounded backoff' })
          .option('max-postcopy-bandwidth', { type: 'string', describe: "limit post-copy's push to this many bytes per second" })
          .option('compress', { type: 'string', describe: 'page compression: auto, none, lz4, zstd (default: the agent\'s --compress)' })
          .option('soft-pages', { type: 'boolean', describe: 'skip the pages the guest kernel calls soft (fileserver guests)' })
          .option('balloon', { type: 'boolean', describe: 'self-ballooning before round 1 (fileserver guests)' })
          .option('interrupt-timeout', { type: 'string', describe: "how long to wait for the guest kernel's answer to the pre-suspend interrupt and the balloon" })
          .option('json', { type: 'boolean', default: false, describe: 'print the final report as JSON' }),
      async (args) => {
        context.setExitCode(await migrateCommand(args as unknown as MigrateArguments, context.log, context.signal));
      },
    )
    .command(
      'resolve',
      "decide a migration whose outcome is unknown (POST /migrations/:id/resolve): resume the guest here, or discard it here",
      (command) =>
        withMigrationCommandOptions(command, 'control API URL')
          .option('action', { type: 'string', choices: ['resume', 'discard'], demandOption: true, describe: 'resume: the guest runs here again; discard: it is dropped here' }),
      async (args) => {
        context.setExitCode(await resolveCommand(args as unknown as ResolveArguments));
      },
    )
    .command(
      'resume',
      'reconnect a post-copy migration paused here to the destination (POST /migrations/:id/resume; QEMU\'s migrate -r)',
      (command) =>
        withMigrationCommandOptions(command, 'control API URL of this (the source) agent')
          .option('target', { type: 'string', describe: "the destination's recovery address HOST:PORT (dest-agent recover prints it)" })
          .option('port', { type: 'number', describe: "the recovery port on the destination's host" })
          .conflicts('target', 'port'),
      async (args) => {
        context.setExitCode(await resumeCommand(args as unknown as ResumeArguments));
      },
    )
    .command(
      'discard',
      'drop the parked copy of a post-copy migration paused here, for good (POST /migrations/:id/discard)',
      (command) =>
        withMigrationCommandOptions(command, 'control API URL of this (the source) agent'),
      async (args) => {
        context.setExitCode(await discardCommand(args as unknown as PostcopyCommandArguments));
      },
    )
    .command(
      'report <report>',
      'render a saved JSON report (a source or a destination report) as a self-contained HTML page with charts',
      (command) =>
        command
          .positional('report', { type: 'string', demandOption: true, describe: 'the JSON report (--report FILE of either agent)' })
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the HTML file to write' }),
      async (args) => {
        context.setExitCode(await reportCommand(args as unknown as ReportArguments));
      },
    )
    .command(
      'model',
      "evaluate the migration-time model (Zaw and Thein's equations 1-8) for pre-copy and, with --working-set, their framework",
      (command) =>
        command
          .option('memory', { type: 'string', demandOption: true, describe: 'guest memory size M (e.g. 512MiB)' })
          .option('bandwidth', { type: 'string', demandOption: true, describe: 'link bandwidth B (e.g. 5.625MB/s)' })
          .option('dirty-pages', { type: 'string', demandOption: true, describe: 'pages modified per second W_M (e.g. 512/s)' })
          .option('working-set', { type: 'number', describe: 'working set list W_S in pages (0 or absent: pre-copy only)' })
          .option('ws-preprocess', { type: 'string', describe: 'length of the preprocessing phase T_pre (default 0)' })
          .option('max-rounds', { type: 'number', describe: `bound on the push rounds (default ${RUN_DEFAULTS.maxRounds})` })
          .option('json', { type: 'boolean', default: false, describe: 'print the figures as JSON' }),
      (args) => {
        context.setExitCode(modelCommand(args as unknown as ModelArguments));
      },
    )
    .command(
      'status',
      "print a running agent's status (GET /status) as JSON",
      (command) => withControlAccessOptions(command, 'client').option('control', { type: 'string', demandOption: true, describe: 'control API URL' }),
      async (args) => {
        context.setExitCode(await statusCommand(args as unknown as { control: string; controlTokenFile?: string }));
      },
    ),
  );
}
