/**
 * What Confirm adds to the downtime (PROTOCOL.md, "Commit"): the destination starts the guest only once the
 * source has acknowledged Committed, one round trip later. Each repetition migrates a running guest between two
 * agent processes and reads the destination's report: `confirmWaitMs` is Committed handed to the socket to
 * Confirm read, the time the committed guest waited parked for the acknowledgement, and `commitJournalMs` the
 * journal's fsync before Committed. Right after, in the same repetition, a loopback round trip between two Node
 * processes is timed with a small echo server: the floor that wait cannot go below.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { DEST_AGENT, ROOT, SOURCE_AGENT, firstLine } from './agents.js';
import { NodeChild, exitsWithin, track } from './child.js';
import { Scratch } from './image-set.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { num, str, takeReports } from './report-file.js';
import { median, range } from './stats.js';

const ECHO_SERVER = fileURLToPath(new URL('./echo-server.js', import.meta.url));
/** Bytes of one ping: about a Committed frame (header, digest and proof in msgpack). */
const PING_BYTES = 160;
const AGENT_EXIT_MS = 30_000;

export interface ConfirmParams {
  reps: number;
  memory: string;
  workload: string;
  migrateAfter: string;
  /** Round trips timed per repetition. */
  pings: number;
  timeoutMs: number;
}

export interface ConfirmRun {
  rep: number;
  ok: boolean;
  error: string | null;
  /** Destination: Committed sent to Confirm read. */
  confirmWaitMs: number | null;
  /** Destination: the commit record's write and fsync. */
  commitJournalMs: number | null;
  /** Destination: starting the vCPUs once confirmed. */
  activationMs: number | null;
  /** Source: vCPUs parked to Activated read. */
  downtimeMs: number | null;
  /** Source: Committed read to Activated read (the source's view of Confirm, activation and Activated). */
  committedToActivatedMs: number | null;
  /** Loopback round trip between two processes, in this repetition: median and 90th percentile. */
  rttMedianMs: number | null;
  rttP90Ms: number | null;
}

export interface ConfirmSummary {
  runs: number;
  ok: number;
  confirmWaitMs: Spread;
  commitJournalMs: Spread;
  rttMedianMs: Spread;
  /** Per run, confirmWaitMs minus that run's rttMedianMs: what the agents add to the bare round trip. */
  overRttMs: Spread;
  downtimeMs: Spread;
  committedToActivatedMs: Spread;
  /** median confirmWaitMs / median downtimeMs. */
  shareOfDowntime: number | null;
}

interface Spread {
  median: number | null;
  range: [number, number] | null;
}

export type ConfirmOutput = BenchOutput<ConfirmParams, ConfirmRun> & { summary: ConfirmSummary };

export async function confirmBench(params: ConfirmParams): Promise<ConfirmOutput> {
  const scratch = await Scratch.create();
  const results: ConfirmRun[] = [];
  try {
    for (let rep = 1; rep <= params.reps; rep++) {
      const run = await migrateOnce(rep, params, scratch);
      const rtt = await roundTrips(params).catch((error: unknown) => {
        run.ok = false;
        run.error ??= `round trips: ${firstLine(error)}`;
        return null;
      });
      run.rttMedianMs = rtt?.median ?? null;
      run.rttP90Ms = rtt?.p90 ?? null;
      results.push(run);
      progress(`confirm ${rep}/${params.reps}: confirm wait ${fixed(run.confirmWaitMs, 2)} ms, rtt ${fixed(run.rttMedianMs, 3)} ms${run.ok ? '' : ` (${run.error})`}`);
    }
  } finally {
    await scratch.dispose();
  }
  return {
    bench: 'confirm',
    machine: machine(),
    params,
    results,
    summary: summarize(results),
    notes: [
      'confirm wait = destination report confirmWaitMs: Committed handed to the socket -> Confirm read (the guest parked, committed); without Confirm the destination would start the vCPUs at its start',
      `rtt = loopback round trip of ${PING_BYTES} bytes between two Node processes (an echo server), ${params.pings} per repetition, timed right after that repetition's migration`,
    ],
  };
}

async function migrateOnce(rep: number, params: ConfirmParams, scratch: Scratch): Promise<ConfirmRun> {
  const sourceReport = scratch.file(`confirm-source-${rep}.json`);
  const destReport = scratch.file(`confirm-dest-${rep}.json`);
  const errors: string[] = [];
  const options = { timeoutMs: params.timeoutMs, cwd: ROOT };
  const dest = track(new NodeChild('dest-agent', DEST_AGENT, ['listen', '--port', '0', '--once', '--run-for', '200ms', '--report', destReport], options));
  let source: NodeChild | undefined;
  try {
    const [, address] = await dest.waitForLine(/^listening (\S+)$/);
    const args = ['run', '--memory', params.memory, '--vcpus', '1', '--workload', params.workload, '--migrate-to', address!, '--migrate-after', params.migrateAfter, '--report', sourceReport];
    source = track(new NodeChild('source-agent', SOURCE_AGENT, args, options));
    await source.succeeded();
    await exitsWithin(dest, AGENT_EXIT_MS);
    await dest.succeeded();
  } catch (error) {
    errors.push(firstLine(error));
  } finally {
    dest.kill();
    source?.kill();
    await Promise.allSettled([dest.exited, source?.exited]);
  }
  const { src, dst } = await takeReports(sourceReport, destReport);
  const status = str(src?.status);
  if (status !== 'completed') errors.push(`source report status ${status ?? 'missing'}`);
  const downtimeMs = num(src?.downtimeMs);
  const parkToCommitted = diff(num(src?.timeToCommitMs), num(src?.timeToParkMs));
  return {
    rep,
    ok: errors.length === 0,
    error: errors[0] ?? null,
    confirmWaitMs: num(dst?.confirmWaitMs),
    commitJournalMs: num(dst?.commitJournalMs),
    activationMs: num(dst?.activationMs),
    downtimeMs,
    committedToActivatedMs: diff(downtimeMs, parkToCommitted),
    rttMedianMs: null,
    rttP90Ms: null,
  };
}

/** Times `params.pings` round trips to a fresh echo server process. */
async function roundTrips(params: ConfirmParams): Promise<{ median: number; p90: number }> {
  const server = track(new NodeChild('echo-server', ECHO_SERVER, [], { timeoutMs: params.timeoutMs, cwd: ROOT }));
  let socket: Socket | undefined;
  try {
    const [, host, port] = await server.waitForLine(/^listening (\S+):(\d+)$/);
    socket = connect(Number(port), host!);
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const ping = Buffer.alloc(PING_BYTES, 7);
    const times: number[] = [];
    for (let i = 0; i < params.pings; i++) {
      const start = performance.now();
      const back = echoed(socket, PING_BYTES);
      socket.write(ping);
      await back;
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return { median: median(times)!, p90: times[Math.floor(times.length * 0.9)]! };
  } finally {
    socket?.destroy();
    server.kill();
    await server.exited;
  }
}

/** Resolves once `bytes` bytes have come back on `socket`. */
function echoed(socket: Socket, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received < bytes) return;
      socket.off('data', onData).off('error', reject);
      resolve();
    };
    socket.on('data', onData).once('error', reject);
  });
}

function summarize(runs: ConfirmRun[]): ConfirmSummary {
  const ok = runs.filter((run) => run.ok);
  const spread = (read: (run: ConfirmRun) => number | null): Spread => {
    const values = ok.map(read);
    return { median: round(median(values)), range: range(values) };
  };
  const confirmWait = spread((run) => run.confirmWaitMs);
  const downtime = spread((run) => run.downtimeMs);
  return {
    runs: runs.length,
    ok: ok.length,
    confirmWaitMs: confirmWait,
    commitJournalMs: spread((run) => run.commitJournalMs),
    rttMedianMs: spread((run) => run.rttMedianMs),
    overRttMs: spread((run) => diff(run.confirmWaitMs, run.rttMedianMs)),
    downtimeMs: downtime,
    committedToActivatedMs: spread((run) => run.committedToActivatedMs),
    shareOfDowntime: confirmWait.median === null || !downtime.median ? null : round(confirmWait.median / downtime.median),
  };
}

export function formatConfirm(out: ConfirmOutput): string {
  const rows = out.results.map((run) => [
    String(run.rep),
    run.ok ? 'yes' : 'no',
    fixed(run.confirmWaitMs, 2),
    fixed(run.rttMedianMs, 3),
    fixed(run.rttP90Ms, 3),
    fixed(run.commitJournalMs, 2),
    fixed(run.committedToActivatedMs, 1),
    fixed(run.activationMs, 1),
    fixed(run.downtimeMs, 1),
  ]);
  const s = out.summary;
  const show = (spread: Spread, digits: number): string =>
    `${fixed(spread.median, digits)} (${spread.range ? `${spread.range[0].toFixed(digits)}..${spread.range[1].toFixed(digits)}` : '-'})`;
  return [
    table(['rep', 'ok', 'confirm wait ms', 'rtt ms', 'rtt p90', 'journal ms', 'committed->activated', 'activation', 'downtime ms'], rows),
    '',
    `medians (range) over ${s.ok} of ${s.runs} runs: confirm wait ${show(s.confirmWaitMs, 2)} ms, loopback rtt ${show(s.rttMedianMs, 3)} ms, ` +
      `confirm wait - rtt ${show(s.overRttMs, 2)} ms, journal fsync ${show(s.commitJournalMs, 2)} ms, downtime ${show(s.downtimeMs, 1)} ms ` +
      `(confirm wait ${s.shareOfDowntime === null ? '-' : `${(s.shareOfDowntime * 100).toFixed(1)} %`} of it)`,
  ].join('\n');
}

function diff(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.round((a - b) * 1000) / 1000;
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}
