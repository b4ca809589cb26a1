import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEST_AGENT, ROOT, SOURCE_AGENT, firstLine } from './agents.js';
import { NodeChild, track } from './child.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { num, readReport } from './report-file.js';
import { median } from './stats.js';
import { LINK, createLink, removeLink } from './working-set-link.js';

/** 0 = plain pre-copy; the others are the paper's working-set sizes in pages. */
export const WS_SIZES = [0, 256, 1024, 8192, 16_384] as const;

export interface WorkingSetParams {
  /** Guest memory: a raw image of random bytes (every page written, none compresses). */
  size: number;
  rateBytesPerSec: number;
  reps: number;
  sizes: number[];
  dirtyRate: string;
  hotBytes: string;
  maxRounds: number;
  preprocess: string;
  migrateAfter: string;
  timeoutMs: number;
}

export interface WorkingSetRun {
  workingSet: number;
  rep: number;
  ok: boolean;
  error: string | null;
  totalTimeMs: number | null;
  rounds: number | null;
  pagesSent: number | null;
  downtimeMs: number | null;
  switchoverReason: string | null;
  /** The report's model check: predicted and measured seconds (T_pre + rounds), and the error. */
  predictedSec: number | null;
  measuredSec: number | null;
  modelError: number | null;
  predictedStopSec: number | null;
  measuredStopSec: number | null;
  workingSetSize: number | null;
  pagesDeferred: number | null;
  deferredDirtyAtStop: number | null;
  deferredRedirtied: number | null;
  preprocessMs: number | null;
}

export interface WorkingSetResult {
  workingSet: number;
  runs: number;
  totalTimeMs: number | null;
  rounds: number | null;
  pagesSent: number | null;
  downtimeMs: number | null;
  /** The stop-and-copy round alone (park to the last page on the wire), and the model's T_stop. */
  stopMs: number | null;
  predictedStopMs: number | null;
  predictedSec: number | null;
  measuredSec: number | null;
  modelError: number | null;
  pagesDeferred: number | null;
  deferredDirtyAtStop: number | null;
  deferredRedirtied: number | null;
  preprocessMs: number | null;
  /** Median total time over plain pre-copy's (same run); < 1: the framework was faster. */
  totalVsPreCopy: number | null;
  all: WorkingSetRun[];
}

async function oneRun(params: WorkingSetParams, image: string, dir: string, workingSet: number, rep: number, wrap: { source: string[]; dest: string[] }): Promise<WorkingSetRun> {
  const report = join(dir, `source-${workingSet}-${rep}.json`);
  const port = 7400 + rep;
  const dest = track(
    new NodeChild('dest-agent', DEST_AGENT, ['listen', '--host', LINK.dest.address, '--port', String(port), '--once', '--run-for', '1s'], {
      timeoutMs: params.timeoutMs,
      cwd: ROOT,
      wrap: wrap.dest,
    }),
  );
  const base: WorkingSetRun = {
    workingSet, rep, ok: false, error: null, totalTimeMs: null, rounds: null, pagesSent: null, downtimeMs: null, switchoverReason: null,
    predictedSec: null, measuredSec: null, modelError: null, predictedStopSec: null, measuredStopSec: null,
    workingSetSize: null, pagesDeferred: null, deferredDirtyAtStop: null, deferredRedirtied: null, preprocessMs: null,
  };
  try {
    await dest.waitForLine(/^listening /);
    const source = track(
      new NodeChild(
        'source-agent',
        SOURCE_AGENT,
        [
          ...['run', '--image-file', image, '--workload', 'hotcold', '--vcpus', '2', '--seed', String(rep + 1)],
          ...['--dirty-rate', params.dirtyRate, '--hot-bytes', params.hotBytes, '--migrate-after', params.migrateAfter],
          ...['--migrate-to', `${LINK.dest.address}:${port}`, '--report', report, '--max-rounds', String(params.maxRounds)],
          ...(workingSet > 0 ? ['--working-set', String(workingSet), '--ws-preprocess', params.preprocess] : []),
        ],
        { timeoutMs: params.timeoutMs, cwd: ROOT, wrap: wrap.source },
      ),
    );
    const [srcExit, destExit] = await Promise.all([source.exited, dest.exited]);
    const r = await readReport(report);
    if (!r) return { ...base, error: `no report (source exit ${srcExit.code}: ${firstLine(source.stderrTail)})` };
    const model = r['model'] as Record<string, any> | null;
    const ws = r['workingSet'] as Record<string, unknown> | null;
    const rounds = (r['rounds'] as Array<Record<string, unknown>>) ?? [];
    const ok = r['status'] === 'completed' && srcExit.code === 0 && destExit.code === 0;
    return {
      ...base,
      ok,
      error: ok ? null : `status ${String(r['status'])}, exits ${srcExit.code}/${destExit.code}: ${firstLine(source.stderrTail || dest.stderrTail)}`,
      totalTimeMs: num(r['totalTimeMs']),
      rounds: rounds.length,
      pagesSent: rounds.reduce((sum, x) => sum + (num(x['pagesSent']) ?? 0), 0),
      downtimeMs: num(r['downtimeMs']),
      switchoverReason: typeof r['switchoverReason'] === 'string' ? r['switchoverReason'] : null,
      predictedSec: num(model?.['predicted']?.totalSec),
      measuredSec: num(model?.['measured']?.totalSec),
      modelError: num(model?.['totalError']),
      predictedStopSec: num(model?.['predicted']?.stopSec),
      measuredStopSec: num(model?.['measured']?.stopSec),
      workingSetSize: num(ws?.['sizePages']),
      pagesDeferred: num(ws?.['pagesDeferred']),
      deferredDirtyAtStop: num(ws?.['deferredDirtyAtStop']),
      deferredRedirtied: num(ws?.['deferredRedirtied']),
      preprocessMs: num(ws?.['preprocessMs']),
    };
  } catch (error) {
    dest.kill();
    return { ...base, error: firstLine(error) };
  }
}

/** Plain pre-copy against the framework at each working-set size, alternating, over a tbf-shaped netns link. */
export async function workingSetBench(params: WorkingSetParams): Promise<BenchOutput<WorkingSetParams, WorkingSetResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'lmws-bench-'));
  const image = join(dir, 'random.img');
  const bytes = Buffer.alloc(params.size);
  randomFillSync(bytes);
  writeFileSync(image, bytes);
  const wrap = createLink(params.rateBytesPerSec);
  const loadBefore = loadavg()[0]!;
  const runs: WorkingSetRun[] = [];
  try {
    for (let rep = 0; rep < params.reps; rep++) {
      // Rotated each repetition, so no size always runs first or last.
      const order = params.sizes.map((_, i) => params.sizes[(i + rep) % params.sizes.length]!);
      for (const ws of order) {
        const run = await oneRun(params, image, dir, ws, rep, wrap);
        runs.push(run);
        progress(
          `rep ${rep + 1}/${params.reps} ws ${ws}: ${run.ok ? `${fixed(run.totalTimeMs, 0)} ms, ${run.rounds} rounds, downtime ${fixed(run.downtimeMs, 0)} ms, ` +
            `model ${fixed(run.predictedSec, 2)} s vs ${fixed(run.measuredSec, 2)} s` : `failed: ${run.error}`}`,
        );
      }
    }
  } finally {
    removeLink();
    rmSync(dir, { recursive: true, force: true });
  }
  const okRuns = (ws: number): WorkingSetRun[] => runs.filter((r) => r.workingSet === ws && r.ok);
  const m = (ws: number, f: (r: WorkingSetRun) => number | null): number | null => median(okRuns(ws).map(f));
  const plainTotal = m(0, (r) => r.totalTimeMs);
  const results = params.sizes.map((ws): WorkingSetResult => {
    const total = m(ws, (r) => r.totalTimeMs);
    return {
      workingSet: ws,
      runs: okRuns(ws).length,
      totalTimeMs: total,
      rounds: m(ws, (r) => r.rounds),
      pagesSent: m(ws, (r) => r.pagesSent),
      downtimeMs: m(ws, (r) => r.downtimeMs),
      stopMs: m(ws, (r) => (r.measuredStopSec === null ? null : r.measuredStopSec * 1000)),
      predictedStopMs: m(ws, (r) => (r.predictedStopSec === null ? null : r.predictedStopSec * 1000)),
      predictedSec: m(ws, (r) => r.predictedSec),
      measuredSec: m(ws, (r) => r.measuredSec),
      modelError: m(ws, (r) => r.modelError),
      pagesDeferred: m(ws, (r) => r.pagesDeferred),
      deferredDirtyAtStop: m(ws, (r) => r.deferredDirtyAtStop),
      deferredRedirtied: m(ws, (r) => r.deferredRedirtied),
      preprocessMs: m(ws, (r) => r.preprocessMs),
      totalVsPreCopy: total !== null && plainTotal ? total / plainTotal : null,
      all: runs.filter((r) => r.workingSet === ws),
    };
  });
  const notes = [
    `link: veth between netns ${LINK.source.ns} and ${LINK.dest.ns}, tc tbf ${params.rateBytesPerSec} B/s each way; guest: ${params.size} bytes of random image ` +
      `(every page written, none compresses), hotcold ${params.dirtyRate}/s of writes, 95 % to a ${params.hotBytes} hot set it also reads; 2 vCPUs, 2 streams, default policy (downtime 300ms), at most ${params.maxRounds} rounds`,
    `working set 0 = plain pre-copy; others: --working-set N --ws-preprocess ${params.preprocess}; migration after ${params.migrateAfter}; the sizes alternate, order rotating per repetition`,
    'downtime = park to activated at the destination (its image check over the whole guest included); stop = the stop-and-copy round alone',
    'model = the report\'s model check: equations 1-8 with M, B, W_M, W_S and T_pre measured in that run; measured = T_pre + the rounds\' time; error = predicted / measured - 1',
    `medians over completed runs; load average ${loadBefore.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
  ];
  return { bench: 'working-set', machine: machine(), params, results, notes };
}

const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

export function formatWorkingSet(output: BenchOutput<WorkingSetParams, WorkingSetResult>): string {
  return table(
    ['working set', 'runs', 'total s', 'vs pre-copy', 'rounds', 'pages', 'downtime ms', 'stop ms', 'model stop ms', 'T_pre ms', 'deferred', 'redirtied', 'dirty at stop', 'model s', 'measured s', 'model error'],
    output.results.map((r) => [
      r.workingSet === 0 ? 'pre-copy' : String(r.workingSet),
      String(r.runs),
      fixed(r.totalTimeMs === null ? null : r.totalTimeMs / 1000, 2),
      r.workingSet === 0 ? '-' : fixed(r.totalVsPreCopy, 3),
      fixed(r.rounds, 1),
      fixed(r.pagesSent, 0),
      fixed(r.downtimeMs, 0),
      fixed(r.stopMs, 0),
      fixed(r.predictedStopMs, 0),
      fixed(r.preprocessMs, 0),
      fixed(r.pagesDeferred, 0),
      fixed(r.deferredRedirtied, 0),
      fixed(r.deferredDirtyAtStop, 0),
      fixed(r.predictedSec, 2),
      fixed(r.measuredSec, 2),
      pct(r.modelError),
    ]),
  );
}
