#!/usr/bin/env node
// The demo behind `npm start`: starts a destination agent and a source agent on loopback, runs a guest on the
// source, live-migrates it while it runs, prints each round as it happens and a summary.
//
//   node scripts/demo.mjs [--memory 256MiB] [--vcpus 2] [--workload hotcold] [--migrate-after 1s] [--report-html FILE]
//
// It writes the source's report as an HTML page with charts (default livemig-report.html in the OS temp dir)
// and prints its path.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '@livemig/agent-runtime';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const destBin = join(root, 'packages/dest-agent/bin/dest-agent.js');
const sourceBin = join(root, 'packages/source-agent/bin/source-agent.js');

const options = { memory: '256MiB', vcpus: '2', workload: 'hotcold', 'migrate-after': '1s', 'report-html': join(tmpdir(), 'livemig-report.html') };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i]?.replace(/^--/, '');
  if (!name || !(name in options) || argv[i + 1] === undefined) {
    console.error(`demo: unknown or incomplete option ${argv[i]} (known: ${Object.keys(options).map((o) => `--${o}`).join(' ')})`);
    process.exit(2);
  }
  options[name] = argv[i + 1];
}

const work = mkdtempSync(join(tmpdir(), 'livemig-demo-'));
const destReportPath = join(work, 'dest.json');
const sourceReportPath = join(work, 'source.json');
const env = { ...process.env, LOG_LEVEL: 'info' };

function exited(child) {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}

const dest = spawn(process.execPath, [destBin, 'listen', '--port', '0', '--once', '--run-for', '1s', '--report', destReportPath], {
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
});
const destExit = exited(dest);
let destErr = '';
dest.stderr.on('data', (chunk) => (destErr += chunk));
const address = await new Promise((resolve, reject) => {
  const lines = createInterface({ input: dest.stdout });
  lines.on('line', (line) => {
    const match = /^listening (\S+)$/.exec(line);
    if (match) resolve(match[1]);
  });
  dest.on('exit', () => reject(new Error(`destination agent exited before listening:\n${destErr}`)));
});
console.log(`destination agent listening on ${address}`);
console.log(`source agent: ${options.memory} guest, ${options.vcpus} vCPUs, workload ${options.workload}; migrating after ${options['migrate-after']}`);

const source = spawn(
  process.execPath,
  [sourceBin, 'run', '--memory', options.memory, '--vcpus', options.vcpus, '--workload', options.workload,
    '--migrate-to', address, '--migrate-after', options['migrate-after'], '--report', sourceReportPath, '--report-html', options['report-html']],
  { env, stdio: ['ignore', 'inherit', 'pipe'] },
);
const sourceExit = exited(source);
let sourceErr = '';
createInterface({ input: source.stderr }).on('line', (line) => {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    sourceErr += `${line}\n`;
    return;
  }
  if (entry.round !== undefined) {
    const kind = entry.final ? 'stop-and-copy' : 'pre-copy     ';
    console.log(
      `  round ${String(entry.round).padStart(2)} ${kind} ${String(entry.pagesSent).padStart(7)} pages ` +
        `${formatBytes(entry.bytesOnWire).padStart(9)} on the wire ${entry.ms.toFixed(1).padStart(8)} ms` +
        (entry.final ? '' : `   dirtied meanwhile ${entry.pagesDirtiedMeanwhile}`),
    );
  } else if (entry.level >= 40) {
    sourceErr += `${entry.msg}\n`;
  }
});

const sourceCode = await sourceExit;
const destCode = await destExit;
let sourceReport;
let destReport;
try {
  sourceReport = JSON.parse(readFileSync(sourceReportPath, 'utf8'));
  destReport = JSON.parse(readFileSync(destReportPath, 'utf8'));
} catch (error) {
  console.error(`demo: a report is missing (${error.message})\n${sourceErr}${destErr}`);
  process.exit(1);
}
rmSync(work, { recursive: true, force: true });

const match = sourceReport.sourceDigest !== null && sourceReport.sourceDigest === destReport.receivedDigest;
const pages = sourceReport.pagesSent;
console.log('');
console.log(`status           ${sourceReport.status}${sourceReport.error ? ` (${sourceReport.error.code}: ${sourceReport.error.message})` : ''}`);
console.log(`rounds           ${sourceReport.rounds.length} (switchover: ${sourceReport.switchoverReason})`);
console.log(`pages            zero ${pages.zero}, same-byte ${pages.sameByte}, lz4 ${pages.lz4}, raw ${pages.raw}`);
console.log(`bytes on wire    ${formatBytes(sourceReport.bytesOnWire)} for ${formatBytes(sourceReport.imageBytes)} of pages (${formatBytes(sourceReport.memoryBytes)} guest)`);
console.log(`downtime         ${sourceReport.downtimeMs} ms`);
console.log(`setup time       ${sourceReport.setupTimeMs.toFixed(1)} ms`);
console.log(`total time       ${sourceReport.totalTimeMs} ms`);
console.log(`digests match    ${match ? 'yes' : 'NO'} (${sourceReport.sourceDigest?.slice(0, 16)}...)`);
console.log(`guest at dest    ran ${destReport.ended === 'run-for' ? 'for 1 s after activation' : destReport.ended}`);
console.log(`HTML report      ${options['report-html']}`);

const ok = sourceCode === 0 && destCode === 0 && sourceReport.status === 'completed' && match;
if (!ok) console.error(`demo: failed (source exit ${sourceCode}, destination exit ${destCode})\n${sourceErr}${destErr}`);
process.exit(ok ? 0 : 1);
