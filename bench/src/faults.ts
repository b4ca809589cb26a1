/**
 * The fault campaign (issue 15): N migrations of a running guest with --ops through a FaultProxy, each with one
 * fault at a seeded random moment, drawn from kill -9 of the destination, a cut connection (control or one data
 * channel), a stall, a flipped byte, a dropped Committed, and a destination restart on the same port and journal.
 * Each run says where the guest ended, whether its final digest is the oracle's (the same guest run without
 * migration), and whether the destination's threads, descriptors and RSS came back to their idle level.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { oracleDigest } from './agents.js';
import { FaultDest, RSS_SLACK_BYTES, type Resources } from './faults-dest.js';
import type { LinkTarget } from './faults-proxy.js';
import { FAULT_KINDS, faultRun, type FaultKind, type FaultPlan, type FaultRun, type Placement, type RunContext } from './faults-run.js';
import { machine, progress, table, type BenchOutput } from './output.js';
import { mulberry32 } from './rng.js';
import { median } from './stats.js';
import { UsageError } from './units.js';

export interface FaultParams {
  runs: number;
  seed: number;
  kinds: FaultKind[];
  /** A stall lasts from the first to the second, uniformly. */
  stallMs: [number, number];
  guestArgs: string[];
  sourceArgs: string[];
  /** Data channels per migration (source-agent --streams). */
  streams: number;
  timeoutMs: number;
  settleMs: number;
  /**
   * The tests' short form: these faults in this order, each striking as soon as the proxy sees Hello (a cut or
   * flip of a data channel then waits for the channel to open), instead of `runs` seeded draws at random moments.
   */
  schedule?: Array<{ kind: FaultKind; link?: LinkTarget }>;
}

export interface FaultSummaryRow {
  kind: FaultKind;
  runs: number;
  applied: number;
  placements: Record<Placement, number>;
  digestsMatched: number;
  digestsChecked: number;
  backToIdle: number;
  idleChecked: number;
}

export type FaultOutput = BenchOutput<FaultParams, FaultRun> & {
  /** 1, 5 and 15 minute load averages when the campaign started (machine.loadAverage: when it ended). */
  loadAverageAtStart: number[];
  oracle: string;
  /** Clean migrations after each (re)start of the destination: the idle level and the moment window come from them. */
  warmups: FaultRun[];
  summary: FaultSummaryRow[];
  /** Runs with a guest on two hosts, none without a reason, a wrong digest, or a destination not back to idle. */
  defects: number[];
  /** The destination's RSS over the campaign: its first idle level, and after the runs (first and last third). */
  rss: { firstIdleMiB: number; medianAfterFirstThirdMiB: number | null; medianAfterLastThirdMiB: number | null; maxAfterMiB: number | null };
};

const PLACEMENTS: Placement[] = ['source', 'destination', 'parked-resumed', 'parked-lost', 'died-with-destination', 'two', 'none'];

/** The campaign's guest: small, so a run is short, and running long enough to migrate while it works. */
export const CAMPAIGN_GUEST = ['--memory', '32MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '7', '--ops', '8000'];
/**
 * The campaign's source flags (the oracle runs the guest without them, unpaced): a guest dirtying 1024 pages a
 * second, pre-copy paced and uncompressed (a written page is mostly zeros) so that a migration moves some 6 MiB and lasts a second or two (the moments fall
 * inside it), an answer timeout short enough to notice a lost Committed quickly, and an outcome timeout longer
 * than the longest stall, so that an outcome query held by a stall is still answered.
 */
export const CAMPAIGN_SOURCE = ['--dirty-rate', '4MiB', '--migrate-after', '1500ms', '--max-bandwidth', '8MB/s', '--compress', 'none', '--answer-timeout', '2s', '--outcome-timeout', '80s'];

export async function faultCampaign(params: FaultParams): Promise<FaultOutput> {
  const loadAverageAtStart = loadavg();
  const scratch = await mkdtemp(join(tmpdir(), 'livemig-faults-'));
  const random = seeded(params.seed);
  let ctx: RunContext | undefined;
  try {
    // Pacing changes timing, never what is written: the oracle runs unpaced.
    const oracle = await oracleDigest([...params.guestArgs, '--dirty-rate', '0'], params.timeoutMs);
    progress(`faults: oracle ${oracle.slice(0, 16)}..., seed ${params.seed}`);
    const stateDir = join(scratch, 'dest-state');
    const destLifetimeMs = params.timeoutMs * (params.runs + 2);
    const dest = await FaultDest.start(stateDir, 0, destLifetimeMs);
    ctx = {
      dest, stateDir, oracle, destLifetimeMs,
      guestArgs: params.guestArgs,
      sourceArgs: [...params.sourceArgs, '--streams', String(params.streams)],
      idle: { threads: Number.POSITIVE_INFINITY, fds: Number.POSITIVE_INFINITY, rssBytes: Number.POSITIVE_INFINITY },
      reportPath: join(scratch, 'source.json'),
      timeoutMs: params.timeoutMs,
      settleMs: params.settleMs,
    };
    const warmups: FaultRun[] = [];
    let windowMs = await warmUp(ctx, warmups);
    const firstIdle = ctx.idle;
    const order = params.schedule?.map((s) => s.kind) ?? kindOrder(params.kinds, params.runs, random);
    const results: FaultRun[] = [];
    for (const [i, kind] of order.entries()) {
      const fixed = params.schedule?.[i];
      const drawn = planFault(kind, windowMs, params, random);
      const plan = fixed === undefined ? drawn : { ...drawn, atMs: 0, link: fixed.link ?? drawn.link };
      const result = await faultRun(i + 1, plan, ctx);
      results.push(result);
      const idle = result.backToIdle === false ? `not idle: ${show(result.after)} against ${show(ctx.idle)}` : `idle ${result.backToIdle ?? '-'}`;
      progress(`faults ${i + 1}/${order.length}: ${kind}${result.link ? ` (${result.link})` : ''} at ${result.atMs} ms -> ${result.placement}, digest ${result.digestMatches ?? '-'}, ${idle} [${result.applied.join('; ')}]`);
      if (!ctx.dest.alive || kind === 'restart') {
        // A fresh destination: start it if it is gone, warm it up, and take its idle level and the window again.
        if (!ctx.dest.alive) ctx.dest = await FaultDest.start(stateDir, ctx.dest.port, destLifetimeMs);
        windowMs = await warmUp(ctx, warmups);
      }
    }
    return {
      bench: 'faults',
      machine: machine(),
      loadAverageAtStart,
      params,
      oracle,
      warmups,
      results,
      summary: summarize(params.kinds, results),
      defects: results.filter(isDefect).map((r) => r.run),
      rss: rssTrend(firstIdle, results),
      notes: [
        `seed ${params.seed}: the kinds' order, the moments, links, stall lengths and flipped bytes all follow from it`,
        'a moment is uniform between the source\'s Hello and the end of the latest clean migration (the window); a fault whose moment comes after the source exited is not applied',
        `back to idle: the destination's threads (/proc/PID/task) and descriptors (/proc/PID/fd) at most their idle level and RSS within ${RSS_SLACK_BYTES / 2 ** 20} MiB of it after a full garbage collection (through its inspector), within ${params.settleMs / 1000} s; idle = settled after a clean migration and a collection`,
        'parked-resumed: committed at the destination, parked with no source left to confirm, resumed by the campaign through the destination\'s control API as its operator; parked-lost: the source heard no outcome, exited 3 (no control API), and its parked copy ended with it',
      ],
    };
  } finally {
    if (ctx?.dest.alive) await ctx.dest.kill();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A clean migration into the (fresh) destination; sets its idle level and returns the window for moments. */
async function warmUp(ctx: RunContext, warmups: FaultRun[]): Promise<number> {
  const run = await faultRun(0, { kind: 'none', atMs: 0, link: null, stallMs: null, random: () => 0 }, ctx);
  warmups.push(run);
  if (run.placement !== 'destination' || run.digestMatches !== true) {
    throw new Error(`a clean migration failed: ${run.placement}, ${run.reason}, source ${run.sourceStatus} ${run.sourceError ?? ''}`);
  }
  ctx.idle = await settledResources(ctx.dest);
  progress(`faults: destination idle at ${show(ctx.idle)}; clean migration ${run.helloToExitMs} ms`);
  return run.helloToExitMs ?? 1000;
}

/** After a full garbage collection, samples until threads and descriptors are the same four times in a row (at most 20 s). */
async function settledResources(dest: FaultDest): Promise<Resources> {
  await dest.collectGarbage();
  let last = dest.resources()!;
  let same = 0;
  for (let i = 0; i < 80 && same < 4; i++) {
    await sleep(250);
    const now = dest.resources()!;
    same = now.threads === last.threads && now.fds === last.fds ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Each kind equally often, in a seeded order: every block of kinds.length runs has each kind once. */
function kindOrder(kinds: FaultKind[], runs: number, random: () => number): FaultKind[] {
  const order: FaultKind[] = [];
  while (order.length < runs) {
    const block = [...kinds];
    for (let i = block.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [block[i], block[j]] = [block[j]!, block[i]!];
    }
    order.push(...block);
  }
  return order.slice(0, runs);
}

function planFault(kind: FaultKind, windowMs: number, params: FaultParams, random: () => number): FaultPlan {
  const atMs = random() * windowMs;
  const links: LinkTarget[] = [{ kind: 'control' }, ...Array.from({ length: params.streams }, (_, index) => ({ kind: 'channel' as const, index }))];
  const link = kind === 'cut' || kind === 'flip' ? links[Math.floor(random() * links.length)]! : null;
  const [low, high] = params.stallMs;
  const stallMs = kind === 'stall' ? Math.round(low + random() * (high - low)) : null;
  return { kind, atMs, link, stallMs, random };
}

function rssTrend(idle: Resources, results: FaultRun[]): FaultOutput['rss'] {
  const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);
  const after = results.flatMap((r) => (r.after === null ? [] : [r.after.rssBytes]));
  const third = Math.max(1, Math.floor(after.length / 3));
  const med = (values: number[]): number | null => (values.length === 0 ? null : mib(median(values)!));
  return {
    firstIdleMiB: mib(idle.rssBytes),
    medianAfterFirstThirdMiB: med(after.slice(0, third)),
    medianAfterLastThirdMiB: med(after.slice(-third)),
    maxAfterMiB: after.length === 0 ? null : mib(Math.max(...after)),
  };
}

export function isDefect(run: FaultRun): boolean {
  return run.placement === 'two' || run.placement === 'none' || run.digestMatches === false || run.backToIdle === false;
}

function summarize(kinds: FaultKind[], results: FaultRun[]): FaultSummaryRow[] {
  return kinds.map((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    const placements = Object.fromEntries(PLACEMENTS.map((p) => [p, runs.filter((r) => r.placement === p).length])) as Record<Placement, number>;
    return {
      kind,
      runs: runs.length,
      applied: runs.filter((r) => !r.applied.some((a) => a.startsWith('not applied'))).length,
      placements,
      digestsMatched: runs.filter((r) => r.digestMatches === true).length,
      digestsChecked: runs.filter((r) => r.digestMatches !== null).length,
      backToIdle: runs.filter((r) => r.backToIdle === true).length,
      idleChecked: runs.filter((r) => r.backToIdle !== null).length,
    };
  });
}

export function formatFaults(out: FaultOutput): string {
  const rows = out.summary.map((s) => [
    s.kind,
    String(s.runs),
    String(s.applied),
    ...PLACEMENTS.map((p) => String(s.placements[p])),
    `${s.digestsMatched}/${s.digestsChecked}`,
    `${s.backToIdle}/${s.idleChecked}`,
  ]);
  const runs = out.results.map((r) => [
    String(r.run), r.kind, r.link ?? (r.stallMs === null ? '-' : `${r.stallMs} ms`), String(r.atMs), r.placement,
    r.sourceStatus ?? `exit ${r.sourceExit}`, r.destStatus, String(r.digestMatches ?? '-'), String(r.backToIdle ?? '-'),
  ]);
  return [
    table(['run', 'kind', 'link/stall', 'at ms', 'guest', 'source', 'destination', 'digest', 'idle'], runs),
    '',
    table(['fault', 'runs', 'applied', ...PLACEMENTS, 'digest = oracle', 'dest back to idle'], rows),
    '',
    `destination RSS: idle ${out.rss.firstIdleMiB} MiB at first; after a run, median ${out.rss.medianAfterFirstThirdMiB ?? '-'} MiB over the first third of the runs, ${out.rss.medianAfterLastThirdMiB ?? '-'} MiB over the last, at most ${out.rss.maxAfterMiB ?? '-'} MiB`,
    `seed ${out.params.seed}; load average at start ${out.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}; defects (runs): ${out.defects.length === 0 ? 'none' : out.defects.join(', ')}`,
  ].join('\n');
}

function show(r: Resources | null): string {
  return r === null ? 'gone' : `${r.threads} threads, ${r.fds} fds, ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB`;
}

function seeded(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 2 ** 32;
}

/** `--kinds`: a comma-separated list of fault kinds, all of them when not given. */
export function faultKinds(list: string | undefined): FaultKind[] {
  if (list === undefined) return [...FAULT_KINDS];
  const kinds = list.split(',').map((k) => k.trim());
  for (const kind of kinds) if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kinds: unknown fault "${kind}" (${FAULT_KINDS.join(', ')})`);
  return kinds as FaultKind[];
}

export { FAULT_KINDS };
