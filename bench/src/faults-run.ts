import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, SOURCE_AGENT } from './agents.js';
import { NodeChild, track } from './child.js';
import { FaultDest, atIdle, type IncomingRecord, type Resources } from './faults-dest.js';
import { FaultProxy, describe, type LinkTarget } from './faults-proxy.js';

/**
 * One run of the fault campaign: a running guest with --ops migrates through a FaultProxy to the campaign's
 * destination, one fault strikes at a chosen moment, and afterwards the run says where the guest ended (which
 * host printed its final digest, or where it waits parked), whether that digest is the oracle's, and whether
 * the destination's threads, descriptors and RSS came back to its idle level.
 */

export const FAULT_KINDS = ['kill', 'cut', 'stall', 'flip', 'drop-committed', 'restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultPlan {
  /** `none`: a clean migration (the campaign's warm-up and calibration). */
  kind: FaultKind | 'none';
  /** After the proxy saw the source's Hello (drop-committed: unused, Committed is the moment). */
  atMs: number;
  /** cut, flip: which connection. */
  link: LinkTarget | null;
  /** stall: how long nothing is forwarded. */
  stallMs: number | null;
  /** flip: the offset and mask come from here. */
  random: () => number;
}

/**
 * Where the guest is after the run: `source` or `destination` (that host alone printed the final digest);
 * `parked-resumed` (committed at the destination and parked there with no source left to confirm, resumed by
 * the campaign as its operator, then finished there); `parked-lost` (the source's outcome stayed unknown, it
 * exited 3 as documented, its parked copy ended with it, and the destination holds none);
 * `died-with-destination` (the source completed: the guest had moved and run there, and then its host was
 * killed, as a host crash takes its guests); `two` and `none` are defects.
 */
export type Placement = 'source' | 'destination' | 'parked-resumed' | 'parked-lost' | 'died-with-destination' | 'two' | 'none';

export interface FaultRun {
  run: number;
  kind: FaultKind | 'none';
  atMs: number;
  link: string | null;
  stallMs: number | null;
  /** What was done, in order (the proxy's events, kills and restarts); empty when the fault found nothing to hit. */
  applied: string[];
  sourceExit: number | null;
  sourceStatus: string | null;
  sourceError: string | null;
  outcomeAnswer: string | null;
  destStatus: IncomingRecord['status'] | 'none' | 'gone';
  destError: string | null;
  placement: Placement;
  reason: string;
  digestMatches: boolean | null;
  idle: Resources | null;
  after: Resources | null;
  backToIdle: boolean | null;
  /** The proxy saw Hello to the source's exit: how long the migration kept the source. */
  helloToExitMs: number | null;
  ms: number;
}

export interface RunContext {
  /** The destination now: replaced when a fault restarts it. */
  dest: FaultDest;
  stateDir: string;
  guestArgs: string[];
  sourceArgs: string[];
  oracle: string;
  /** The destination's settled level after a clean migration. */
  idle: Resources;
  reportPath: string;
  timeoutMs: number;
  /** A destination started by a restart is killed after this long (the rest of the campaign). */
  destLifetimeMs: number;
  /** How long the destination may take to settle a migration, finish a guest, or come back to idle. */
  settleMs: number;
}

export async function faultRun(run: number, plan: FaultPlan, ctx: RunContext): Promise<FaultRun> {
  const started = performance.now();
  const digestsBefore = ctx.dest.digests.length;
  const known = new Set((await ctx.dest.incoming()).map((r) => r.id));
  await rm(ctx.reportPath, { force: true });
  const proxy = await FaultProxy.start(ctx.dest.port, { dropCommitted: plan.kind === 'drop-committed' });
  const applied: string[] = [];
  const dests = [ctx.dest];
  let source: NodeChild | undefined;
  let stallDone: Promise<void> = Promise.resolve();
  try {
    const args = ['run', ...ctx.guestArgs, ...ctx.sourceArgs, '--migrate-to', proxy.address, '--report', ctx.reportPath];
    source = track(new NodeChild('source-agent', SOURCE_AGENT, args, { timeoutMs: ctx.timeoutMs, cwd: ROOT }));
    const sourceExited = source.exited.then(() => 'exited' as const);
    const strike = async (): Promise<void> => {
      if ((await Promise.race([proxy.helloSeen.then(() => 'hello' as const), sourceExited])) === 'exited') return;
      if ((await Promise.race([sleep(plan.atMs).then(() => 'due' as const), sourceExited])) === 'exited') {
        applied.push(`not applied: the source exited within ${Math.round(plan.atMs)} ms of Hello`);
        return;
      }
      switch (plan.kind) {
        case 'kill':
          await ctx.dest.kill();
          applied.push('kill -9 of the destination');
          break;
        case 'restart': {
          await ctx.dest.kill();
          ctx.dest = await FaultDest.start(ctx.stateDir, ctx.dest.port, ctx.destLifetimeMs);
          dests.push(ctx.dest);
          applied.push('kill -9 of the destination, started again on its port and journal');
          break;
        }
        case 'cut':
          proxy.cut(plan.link!);
          break;
        case 'stall':
          stallDone = proxy.stall(plan.stallMs!);
          break;
        case 'flip':
          proxy.flip(plan.link!, plan.random);
          break;
        case 'drop-committed':
        case 'none':
          break;
      }
    };
    let helloAt: number | null = null;
    void proxy.helloSeen.then(() => (helloAt = performance.now()));
    await strike();
    const exit = await source.exited;
    const helloToExitMs = helloAt === null ? null : Math.round(performance.now() - helloAt);
    await stallDone;
    applied.push(...proxy.events);
    const pending = proxy.pendingFault;
    if (pending) applied.push(`not applied: the ${pending} found no connection or bytes before the source exited`);
    const report = await readReport(ctx.reportPath);
    const sourceDigest = /^final digest ([0-9a-f]{64})$/m.exec(source.stdoutLines.join('\n'))?.[1] ?? null;
    const sameDest = ctx.dest === dests[0];
    const destSide = await settleDestination(ctx, sameDest ? known : new Set(), sameDest ? digestsBefore : 0, sourceDigest !== null);
    const destDigests = [...dests.map((d, i) => d.digests.slice(i === 0 ? digestsBefore : 0)).flat()];
    const destKilled = plan.kind === 'kill' || plan.kind === 'restart';
    const placed = place(sourceDigest, destDigests, exit.code, destSide, destKilled && str(report?.status) === 'completed');
    const digests = [sourceDigest, ...destDigests].filter((d): d is string => d !== null);
    const after = await backToIdle(ctx);
    return {
      run,
      kind: plan.kind,
      atMs: Math.round(plan.atMs),
      link: plan.link ? describe(plan.link) : null,
      stallMs: plan.stallMs,
      applied,
      sourceExit: exit.code,
      sourceStatus: str(report?.status),
      sourceError: str((report?.error as { code?: string } | undefined)?.code),
      outcomeAnswer: str((report?.outcome as { answer?: string } | null | undefined)?.answer),
      destStatus: destSide.status,
      destError: destSide.error,
      placement: placed.placement,
      reason: placed.reason,
      digestMatches: digests.length === 0 ? null : digests.every((d) => d === ctx.oracle),
      idle: ctx.idle,
      after: after.resources,
      backToIdle: after.back,
      helloToExitMs,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    source?.kill();
    await proxy.close();
  }
}

interface DestSide {
  status: FaultRun['destStatus'];
  error: string | null;
  resumed: boolean;
}

/**
 * Waits until the destination has settled this run's migration (its record, the one not in `known`, leaves
 * `receiving`) and, for a guest that runs there, until it printed its digest. A guest parked there with no
 * source left to confirm it is resumed, as its operator would (README, "resolve"): the source's copy is gone.
 */
async function settleDestination(ctx: RunContext, known: Set<string>, digestsAt: number, sourceHasIt: boolean): Promise<DestSide> {
  const dest = ctx.dest;
  if (!dest.alive) return { status: 'gone', error: null, resumed: false };
  const deadline = performance.now() + ctx.settleMs;
  let record: IncomingRecord | undefined;
  let resumed = false;
  while (performance.now() < deadline) {
    record = (await dest.incoming().catch(() => [])).filter((r) => !known.has(r.id)).at(-1);
    if (record === undefined || record.status === 'failed') break;
    if (record.status === 'committed' && !sourceHasIt && !resumed) {
      // A Confirm that was already on its way decides first (409): the guest is activated by it, not by us.
      resumed = await dest.resolve(record.id, 'resume').then(() => true, () => false);
    }
    // A guest activated here runs until its ops are done: its digest ends the wait.
    if (record.status === 'completed' && dest.digests.length > digestsAt) break;
    await sleep(200);
  }
  return { status: record?.status ?? 'none', error: record?.error ? `${record.error.code}: ${record.error.message}` : null, resumed };
}

function place(
  sourceDigest: string | null,
  destDigests: string[],
  sourceExit: number | null,
  dest: DestSide,
  killedAfterCompletion: boolean,
): { placement: Placement; reason: string } {
  const atDest = destDigests.length;
  if (sourceDigest !== null && atDest > 0) return { placement: 'two', reason: 'both hosts printed a final digest' };
  if (atDest > 1) return { placement: 'two', reason: `the destination printed ${atDest} final digests` };
  if (sourceDigest !== null) return { placement: 'source', reason: 'the migration failed; the guest finished at the source' };
  if (atDest === 1) {
    return dest.resumed
      ? { placement: 'parked-resumed', reason: 'committed and parked at the destination with no source left; resumed there' }
      : { placement: 'destination', reason: 'the guest finished at the destination' };
  }
  if (killedAfterCompletion) {
    return { placement: 'died-with-destination', reason: 'the source completed (the guest ran at the destination), then the destination was killed' };
  }
  if (sourceExit === 3 && dest.status !== 'completed' && dest.status !== 'committed') {
    return { placement: 'parked-lost', reason: `outcome unknown: the source exited 3 with its parked copy; destination ${dest.status}` };
  }
  return { placement: 'none', reason: `no host printed a digest (source exit ${sourceExit}, destination ${dest.status})` };
}

/**
 * Polls the destination's resources until they are back at idle, up to `ctx.settleMs`, each reading right
 * after a full garbage collection in it (so RSS is what is still held, not garbage waiting for a collection).
 */
async function backToIdle(ctx: RunContext): Promise<{ resources: Resources | null; back: boolean | null }> {
  const deadline = performance.now() + ctx.settleMs;
  const read = async (): Promise<Resources | null> => {
    await ctx.dest.collectGarbage();
    return ctx.dest.resources();
  };
  let now = await read();
  while (now !== null && !atIdle(now, ctx.idle) && performance.now() < deadline) {
    await sleep(250);
    now = await read();
  }
  return { resources: now, back: now === null ? null : atIdle(now, ctx.idle) };
}

async function readReport(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
