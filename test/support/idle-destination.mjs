// A destination agent in this process (the real listen command, not --once), run with --expose-gc: once the guest
// it hosted has ended (its report is written) and the heap has been collected, it prints what memory it still
// holds. The guest runs for 200 ms; with ONWARD=HOST:PORT it migrates there after 200 ms instead, with the control
// API on (which keeps the migration in its history). Used by test/idle-destination.test.ts.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenCommand } from '../../packages/dest-agent/dist/index.js';
import { silentLogger } from '../../packages/agent-runtime/dist/index.js';

const [reportPath] = process.argv.slice(2);
const onward = process.env.ONWARD;
const ending = onward === undefined ? { runFor: '200ms', migrateAfter: '1s' } : { migrateTo: onward, migrateAfter: '200ms', controlPort: 0 };
const stop = new AbortController();
const listening = listenCommand(
  {
    port: 0, host: '127.0.0.1', once: false, maxMemory: '1GiB', maxThreads: 64, maxIncoming: 4, ...ending,
    report: reportPath, downtimeLimit: '300ms', maxRounds: 30, controlHost: '127.0.0.1',
  },
  silentLogger(),
  stop.signal,
);
while (!existsSync(reportPath)) await sleep(50);
for (let i = 0; i < 5; i++) {
  globalThis.gc();
  await sleep(20);
}
const { rss, arrayBuffers } = process.memoryUsage();
process.stdout.write(`held rss ${rss} arrayBuffers ${arrayBuffers}\n`);
stop.abort();
// Closing waits on what does not keep the event loop alive by itself (as when the CLI's signal handler stops it).
const keepAlive = setInterval(() => {}, 1000);
process.exitCode = await listening;
clearInterval(keepAlive);
