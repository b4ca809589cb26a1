import { fileURLToPath } from 'node:url';
import { DEST_AGENT, ROOT, SOURCE_AGENT, runAgentPair } from './agents.js';
import { NodeChild, track } from './child.js';
import { Scratch } from './image-set.js';
import { BENCH_PSK_IDENTITY, writePskFile } from './psk-file.js';
import { machine, progress, table, type BenchOutput } from './output.js';
import { num, takeReports } from './report-file.js';
import { median } from './stats.js';

const CHILD = fileURLToPath(new URL('./tls-setup-child.js', import.meta.url));

export interface TlsSetupParams {
  reps: number;
  timeoutMs: number;
}

/** One kind (plain or TLS): the migrations' set-up and the fresh-process connection times, medians and all. */
export interface TlsSetupResult {
  kind: 'plain' | 'tls';
  /** The source report's setupTimeMs (connect, TLS handshakes, Hello, Accept), one per repetition. */
  setupMs: (number | null)[];
  medianSetupMs: number | null;
  medianTimeToCommitMs: number | null;
  /** In a fresh process: the first connection of this kind (connect, handshake, a frame each way), then later ones. */
  firstConnectionMs: number[];
  laterConnectionMs: number[];
  medianFirstMs: number | null;
  medianLaterMs: number | null;
}

/**
 * What TLS adds to a migration's set-up, and what a TLS warm-up could take off it. Per repetition, in alternating
 * order: a migration of a paused 16 MiB idle guest plain and over TLS (PSK), each between fresh agents; and a
 * fresh process timing its first and later loopback connections of each kind (tls-setup-child.ts).
 */
export async function tlsSetup(params: TlsSetupParams): Promise<BenchOutput<TlsSetupParams, TlsSetupResult>> {
  const scratch = await Scratch.create();
  const results: Record<'plain' | 'tls', TlsSetupResult> = { plain: empty('plain'), tls: empty('tls') };
  const toCommit: Record<'plain' | 'tls', (number | null)[]> = { plain: [], tls: [] };
  try {
    const pskFile = scratch.file('bench.psk');
    await writePskFile(pskFile);
    for (let rep = 1; rep <= params.reps; rep++) {
      const order = rep % 2 === 1 ? (['plain', 'tls'] as const) : (['tls', 'plain'] as const);
      for (const kind of order) {
        const run = await migrate(kind === 'tls' ? ['--tls-psk-file', pskFile] : [], scratch, rep, params.timeoutMs);
        results[kind].setupMs.push(run.setupMs);
        toCommit[kind].push(run.timeToCommitMs);
        progress(`rep ${rep}/${params.reps} ${kind}: setup ${run.setupMs?.toFixed(1) ?? '-'} ms${run.error ? ` (${run.error})` : ''}`);
      }
      const child = track(new NodeChild('tls-setup-child', CHILD, [order[0] === 'plain' ? 'plain-first' : 'tls-first'], { timeoutMs: params.timeoutMs, cwd: ROOT }));
      await child.succeeded();
      const times = JSON.parse(child.stdoutLines.at(-1) ?? '{}') as Record<'plain' | 'tls', number[]>;
      for (const kind of ['plain', 'tls'] as const) {
        results[kind].firstConnectionMs.push(times[kind][0]!);
        results[kind].laterConnectionMs.push(...times[kind].slice(1));
      }
    }
  } finally {
    await scratch.dispose();
  }
  for (const kind of ['plain', 'tls'] as const) {
    const r = results[kind];
    Object.assign(r, {
      medianSetupMs: median(r.setupMs),
      medianTimeToCommitMs: median(toCommit[kind]),
      medianFirstMs: median(r.firstConnectionMs),
      medianLaterMs: median(r.laterConnectionMs),
    });
  }
  return { bench: 'tls-setup', machine: machine(), params, results: [results.plain, results.tls], notes: [] };
}

function empty(kind: 'plain' | 'tls'): TlsSetupResult {
  return { kind, setupMs: [], medianSetupMs: null, medianTimeToCommitMs: null, firstConnectionMs: [], laterConnectionMs: [], medianFirstMs: null, medianLaterMs: null };
}

async function migrate(tlsArgs: string[], scratch: Scratch, rep: number, timeoutMs: number): Promise<{ setupMs: number | null; timeToCommitMs: number | null; error: string | null }> {
  const tls = tlsArgs.length > 0;
  const sourceReport = scratch.file(`source-${rep}${tls ? '-tls' : ''}.json`);
  const destReport = scratch.file(`dest-${rep}${tls ? '-tls' : ''}.json`);
  const dest = track(new NodeChild('dest-agent', DEST_AGENT, ['listen', '--port', '0', '--once', '--run-for', '0', '--report', destReport, ...tlsArgs], { timeoutMs, cwd: ROOT }));
  const guest = ['--memory', '16MiB', '--workload', 'idle', '--paused', '--migrate-after', '500ms'];
  const { error } = await runAgentPair(dest, (address) =>
    track(new NodeChild('source-agent', SOURCE_AGENT, ['run', ...guest, '--migrate-to', address, ...tlsArgs, ...(tls ? ['--tls-identity', BENCH_PSK_IDENTITY] : []), '--report', sourceReport], { timeoutMs, cwd: ROOT })),
  );
  const { src } = await takeReports(sourceReport, destReport);
  return { setupMs: num(src?.setupTimeMs), timeToCommitMs: num(src?.timeToCommitMs), error };
}

export function formatTlsSetup(out: BenchOutput<TlsSetupParams, TlsSetupResult>): string {
  const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  return table(
    ['kind', 'migration setup (median ms)', 'time to commit (median ms)', 'fresh process: first connection (ms)', 'later connections (ms)'],
    out.results.map((r) => [r.kind, ms(r.medianSetupMs), ms(r.medianTimeToCommitMs), ms(r.medianFirstMs), ms(r.medianLaterMs)]),
  );
}
