import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PLAINTEXT, formatBytes, type TransportSecurity } from '@livemig/agent-runtime';
import { ROOT, SOURCE_AGENT, firstLine, oracleDigest } from './agents.js';
import { NodeChild, track } from './child.js';
import { fuzzDecoder, type DecoderFuzzResult, type FuzzFinding } from './fuzz-decoder.js';
import { writePskFile } from './psk-file.js';
import { FuzzedDestination, summariseRss, type RssSummary } from './fuzz-destination.js';
import { CONNECTION_BOUND_MS, emptyCounts, fuzzDataPorts, fuzzMainPort, type LiveFuzzCounts } from './fuzz-live.js';
import { Scratch } from './image-set.js';
import { machine, progress, table, type BenchOutput } from './output.js';

export interface FuzzParams {
  /** Generated or mutated inputs in all: half through the decoder in-process, a quarter per live target. */
  inputs: number;
  /** fast-check's seed for the whole run; each part derives its own (see `seeds` in each result). */
  seed: number;
  timeoutMs: number;
}

export interface LiveFuzzResult extends LiveFuzzCounts {
  target: 'plain' | 'tls-psk';
  seeds: { mainPort: number; dataPorts: number };
  ms: number;
  /** The destination process was still running at the end (no crash). */
  survived: boolean;
  rss: RssSummary;
  /** Bytes reserved and migrations still receiving once the fuzzing settled: both must be 0. */
  reservedBytesAfter: number;
  receivingAfter: number;
  /** Warnings and errors the destination logged, by code; `untypedLogs` is how many lacked an LM_ERR_ code. */
  loggedCodes: Record<string, number>;
  untypedLogs: number;
  /** A real migration afterwards: its status and whether the destination's final digest was the oracle's. */
  migrationAfter: { sourceExit: number | null; digestMatches: boolean; error: string | null };
}

export type FuzzResult = DecoderFuzzResult | LiveFuzzResult;

/** The small deterministic guest migrated after the fuzzing, and run alone once for the oracle's digest. */
const GUEST = ['--memory', '16MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '11', '--ops', '3000', '--dirty-rate', '8MiB'];
const DEST_LIMIT_BYTES = 64 * 2 ** 20;
const PSK_IDENTITY = 'fuzz';
/** How long the destination is left alone before its idle and end RSS are read. */
const SETTLE_MS = 3_000;

export function newFuzzSeed(): number {
  return randomBytes(4).readUInt32BE(0) >>> 1;
}

export async function fuzz(params: FuzzParams): Promise<BenchOutput<FuzzParams, FuzzResult>> {
  const decoderInputs = Math.ceil(params.inputs / 2);
  const perTarget = Math.floor((params.inputs - decoderInputs) / 2);
  progress(`fuzz: seed ${params.seed}, ${params.inputs} inputs (decoder ${decoderInputs}, ${perTarget} per live target)`);
  const results: FuzzResult[] = [];
  const decoder = fuzzDecoder(params.seed, decoderInputs);
  progress(`decoder: ${decoder.inputs} inputs in ${(decoder.ms / 1000).toFixed(1)} s, ${decoder.untypedErrors} untyped errors, ${decoder.splitMismatches} split mismatches`);
  results.push(decoder);
  const scratch = await Scratch.create();
  try {
    const oracle = await oracleDigest(GUEST, params.timeoutMs);
    const pskFile = scratch.file('fuzz.psk');
    const key = await writePskFile(pskFile, PSK_IDENTITY);
    const targets: { target: LiveFuzzResult['target']; args: string[]; security: TransportSecurity }[] = [
      { target: 'plain', args: [], security: PLAINTEXT },
      { target: 'tls-psk', args: ['--tls-psk-file', pskFile], security: { kind: 'psk', identity: PSK_IDENTITY, keys: { [PSK_IDENTITY]: key } } },
    ];
    for (const [i, target] of targets.entries()) {
      const seeds = { mainPort: params.seed + 10_000_000 * (2 * i + 1), dataPorts: params.seed + 10_000_000 * (2 * i + 2) };
      results.push(await fuzzTarget(target, seeds, perTarget, oracle, params.timeoutMs));
    }
  } finally {
    await scratch.dispose();
  }
  return { bench: 'fuzz', machine: machine(), params, results, notes: notes(results) };
}

async function fuzzTarget(
  target: { target: LiveFuzzResult['target']; args: string[]; security: TransportSecurity },
  seeds: LiveFuzzResult['seeds'],
  inputs: number,
  oracle: string,
  timeoutMs: number,
): Promise<LiveFuzzResult> {
  const dest = new FuzzedDestination(DEST_LIMIT_BYTES, target.args, 4 * 3600_000);
  try {
    await dest.started();
    await sleep(SETTLE_MS);
    const idle = dest.rssSince(0);
    const runMark = dest.mark();
    const counts = emptyCounts();
    const started = performance.now();
    const mainInputs = Math.ceil(inputs * 0.6);
    await fuzzMainPort(dest, target.security, seeds.mainPort, mainInputs, counts, target.target);
    progress(`${target.target} main port: ${counts.mainPort.inputs} inputs, ${counts.mainPort.hung} hung, max ${counts.mainPort.maxEndMs.toFixed(0)} ms to close`);
    await fuzzDataPorts(dest, target.security, seeds.dataPorts, inputs - mainInputs, counts, target.target);
    progress(`${target.target} data ports: ${counts.dataPorts.inputs} inputs over ${counts.reservations} reservations, ${counts.dataPorts.hung} hung, ${counts.controlHangs} control connections not ended`);
    const ms = performance.now() - started;
    const settled = await settledState(dest);
    const endMark = dest.mark();
    await sleep(SETTLE_MS);
    const rss = summariseRss(idle, dest.rssSince(runMark).slice(0, endMark - runMark), dest.rssSince(endMark));
    const migrationAfter = dest.alive ? await migrateInto(dest, target.args, oracle, timeoutMs) : { sourceExit: null, digestMatches: false, error: 'destination died' };
    progress(`${target.target}: RSS idle ${formatBytes(rss.idleBytes)}, peak ${formatBytes(rss.peakBytes)}, end ${formatBytes(rss.endBytes)}; migration after: ${migrationAfter.error ?? (migrationAfter.digestMatches ? 'oracle digest' : 'WRONG digest')}`);
    return {
      target: target.target,
      seeds,
      ms,
      survived: dest.alive,
      ...counts,
      rss,
      ...settled,
      loggedCodes: dest.loggedCodes,
      untypedLogs: dest.untypedLogCount,
      findings: [...counts.findings, ...dest.untypedLogs.map((log): FuzzFinding => ({ target: `${target.target} log`, seed: seeds.mainPort, block: -1, index: -1, problem: `untyped error logged: ${log}`, head: '', bytes: 0 }))],
      migrationAfter,
    };
  } finally {
    dest.stop();
    await dest.child.exited;
  }
}

/** Waits (up to the connection bound) for nothing reserved and nothing receiving; returns what is left. */
async function settledState(dest: FuzzedDestination): Promise<{ reservedBytesAfter: number; receivingAfter: number }> {
  const deadline = performance.now() + CONNECTION_BOUND_MS;
  for (;;) {
    const state = dest.alive ? { reservedBytesAfter: await dest.reservedBytes(), receivingAfter: await dest.receiving() } : { reservedBytesAfter: -1, receivingAfter: -1 };
    if ((state.reservedBytesAfter === 0 && state.receivingAfter === 0) || !dest.alive || performance.now() > deadline) return state;
    await sleep(200);
  }
}

/** A real source migrates GUEST into the fuzzed destination; the guest must finish there with the oracle's digest. */
async function migrateInto(dest: FuzzedDestination, tlsArgs: string[], oracle: string, timeoutMs: number): Promise<LiveFuzzResult['migrationAfter']> {
  const target = `${dest.address.host}:${dest.address.port}`;
  const source = track(new NodeChild('source-agent', SOURCE_AGENT, ['run', ...GUEST, '--migrate-to', target, '--migrate-after', '200ms', ...tlsArgs, ...(tlsArgs.length > 0 ? ['--tls-identity', PSK_IDENTITY] : [])], { timeoutMs, cwd: ROOT }));
  const digest = dest.child.waitForLine(/^final digest (\S+)$/);
  try {
    const exit = await source.exited;
    if (exit.code !== 0) return { sourceExit: exit.code, digestMatches: false, error: `source-agent: ${source.stderrTail.split('\n').pop() ?? ''}` };
    const [, got] = await Promise.race([digest, sleep(timeoutMs).then(() => Promise.reject(new Error('no final digest at the destination')))]);
    return { sourceExit: 0, digestMatches: got === oracle, error: null };
  } catch (error) {
    return { sourceExit: source.process.exitCode, digestMatches: false, error: firstLine(error) };
  } finally {
    source.kill();
  }
}

function notes(results: FuzzResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.target === 'decoder') {
      if (r.untypedErrors > 0 || r.splitMismatches > 0) out.push(`decoder: ${r.untypedErrors} untyped errors, ${r.splitMismatches} split mismatches (findings list the seeds)`);
      continue;
    }
    const problems = [
      !r.survived && 'the destination died',
      r.mainPort.hung + r.dataPorts.hung > 0 && `${r.mainPort.hung + r.dataPorts.hung} connections hung`,
      r.controlHangs > 0 && `${r.controlHangs} migrations not ended`,
      r.reservedBytesAfter !== 0 && `${r.reservedBytesAfter} bytes still reserved`,
      r.receivingAfter !== 0 && `${r.receivingAfter} migrations still receiving`,
      r.untypedLogs > 0 && `${r.untypedLogs} untyped errors logged`,
      !r.migrationAfter.digestMatches && `the migration after failed: ${r.migrationAfter.error ?? 'wrong digest'}`,
    ].filter((p): p is string => typeof p === 'string');
    if (problems.length > 0) out.push(`${r.target}: ${problems.join('; ')}`);
  }
  return out;
}

export function formatFuzz(out: BenchOutput<FuzzParams, FuzzResult>): string {
  const rows = out.results.map((r) => {
    if (r.target === 'decoder') {
      const typed = Object.entries(r.outcomes).filter(([code]) => code !== 'none').reduce((sum, [, n]) => sum + n, 0);
      return ['decoder', String(r.inputs), `${typed} typed, ${r.untypedErrors} untyped, ${r.splitMismatches} split`, '-', '-', '-', '-', (r.ms / 1000).toFixed(1)];
    }
    const inputs = r.mainPort.inputs + r.dataPorts.inputs;
    const hung = r.mainPort.hung + r.dataPorts.hung + r.controlHangs;
    return [
      r.target,
      String(inputs),
      `${r.untypedLogs} untyped logged${r.survived ? '' : ', DIED'}`,
      `${hung} (max ${(Math.max(r.mainPort.maxEndMs, r.dataPorts.maxEndMs) / 1000).toFixed(1)} s)`,
      `${formatBytes(r.rss.idleBytes)} / ${formatBytes(r.rss.peakBytes)} / ${formatBytes(r.rss.endBytes)}`,
      `${r.reservedBytesAfter} B, ${r.receivingAfter}`,
      r.migrationAfter.digestMatches ? 'oracle digest' : `FAILED ${r.migrationAfter.error ?? ''}`,
      (r.ms / 1000).toFixed(1),
    ];
  });
  return `seed ${out.params.seed}\n${table(['target', 'inputs', 'errors', 'hung', 'RSS idle / peak / end', 'reserved, receiving after', 'migration after', 's'], rows)}`;
}
