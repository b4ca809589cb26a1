import { afterEach, describe, expect, it, vi } from 'vitest';
import { emptyReport, main } from '@livemig/source-agent';
import { checkModel } from '../src/model/model-check.js';
import { evaluateModel, TABLE_1, type ModelInput } from '../src/model/migration-model.js';

const table1 = (workingSetPages: number, preprocessSec = 0): ModelInput => ({ ...TABLE_1, workingSetPages, preprocessSec, maxRounds: 30 });

describe('the migration-time model on Table 1 (P 4 KiB, M 131,072, B 5.625 MB/s, W_M 512/s)', () => {
  // By hand: T_0 = 131072 * 4096 / 5.625e6 = 95.4437 s; r = W_M * P / B = 512 * 4096 / 5.625e6 = 0.372827;
  // T_i = T_0 * r^i; M_6 = 512 * T_5 = 352.0 <= 512 stops after six push rounds.
  const T0 = (131_072 * 4096) / 5_625_000;
  const r = (512 * 4096) / 5_625_000;

  it('pre-copy: six push rounds in geometric decay, T_stop for M_6 = 352 pages, T_total 152.03 s', () => {
    const m = evaluateModel(table1(0));
    expect(m.pushRounds).toBe(6);
    expect(m.converged).toBe(true);
    m.rounds.forEach((round, i) => expect(round.seconds).toBeCloseTo(T0 * r ** i, 9));
    expect(m.rounds[0]!.seconds).toBeCloseTo(95.443718, 5);
    expect(m.stopPages).toBeCloseTo(352.0, 0);
    expect(m.stopSec).toBeCloseTo(0.256325, 5);
    expect(m.pushSec).toBeCloseTo((T0 * (1 - r ** 6)) / (1 - r), 9);
    expect(m.totalSec).toBeCloseTo(152.028477, 5);
    expect(m.preprocessSec).toBe(0);
  });

  it.each([
    [256, 95.257304, 0.442238, 151.91796],
    [1024, 94.698064, 0.999977, 151.586409],
    [8192, 89.478485, 6.205537, 148.49193],
    [16_384, 83.513253, 12.154749, 144.955382],
  ])('framework at W_S %i: T_0 %f s, T_stop %f s, T_total %f s', (ws, t0, stop, total) => {
    const m = evaluateModel(table1(ws));
    expect(m.framework).toBe(true);
    expect(m.pushRounds).toBe(6);
    expect(m.rounds[0]!.pages).toBe(131_072 - ws);
    expect(m.rounds[0]!.seconds).toBeCloseTo(t0, 5);
    expect(m.stopSec).toBeCloseTo(stop, 5);
    expect(m.totalSec).toBeCloseTo(total, 5);
  });

  it('T_pre adds to the framework total only (eq. 8)', () => {
    expect(evaluateModel(table1(1024, 2)).totalSec).toBeCloseTo(151.586409 + 2, 5);
    expect(evaluateModel(table1(0, 2)).totalSec).toBeCloseTo(152.028477, 5);
  });

  it('stops at the round bound when the link never catches up (W_M * P > B)', () => {
    const m = evaluateModel({ ...table1(0), dirtyPagesPerSec: 2000, maxRounds: 5 });
    expect(m.converged).toBe(false);
    expect(m.pushRounds).toBe(5);
  });

  it('a guest that modifies nothing needs one round and an empty stop', () => {
    const m = evaluateModel({ ...table1(0), dirtyPagesPerSec: 0 });
    expect(m.pushRounds).toBe(1);
    expect(m.stopPages).toBe(0);
  });
});

describe('source-agent model', () => {
  let out = '';
  let err = '';
  afterEach(() => vi.restoreAllMocks());
  async function run(...argv: string[]): Promise<number> {
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((t) => ((out += String(t)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
    const code = await main(['model', ...argv]);
    vi.restoreAllMocks();
    return code;
  }
  const table1Flags = ['--memory', '512MiB', '--bandwidth', '5.625MB/s', '--dirty-pages', '512/s'];

  it('--json carries both results for Table 1 with a working set', async () => {
    expect(await run(...table1Flags, '--working-set', '8192', '--ws-preprocess', '500ms', '--json')).toBe(0);
    const result = JSON.parse(out);
    expect(result.input).toMatchObject({ memoryPages: 131_072, bandwidthBytesPerSec: 5_625_000, dirtyPagesPerSec: 512, workingSetPages: 8192, preprocessSec: 0.5 });
    expect(result.preCopy.totalSec).toBeCloseTo(152.028477, 5);
    expect(result.framework.totalSec).toBeCloseTo(148.49193 + 0.5, 5);
  });

  it('prints a readable table, pre-copy only without --working-set', async () => {
    expect(await run(...table1Flags)).toBe(0);
    expect(out).toContain('pre-copy: 6 push rounds');
    expect(out).toContain('T_total 152.028 s');
    expect(out).not.toContain('framework');
  });

  it.each([
    [['--memory', 'lots', '--bandwidth', '1MB/s', '--dirty-pages', '1'], '--memory'],
    [['--memory', '1MiB', '--bandwidth', '0', '--dirty-pages', '1'], '--bandwidth'],
    [['--memory', '1MiB', '--bandwidth', 'fast', '--dirty-pages', '1'], '--bandwidth'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', 'many'], '--dirty-pages'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', '1', '--working-set', '256'], '--working-set'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', '1', '--working-set', '-1'], '--working-set'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', '1', '--ws-preprocess', 'soon'], '--ws-preprocess'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', '1', '--max-rounds', '0'], '--max-rounds'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s'], 'dirty-pages'],
    [['--memory', '1MiB', '--bandwidth', '1MB/s', '--dirty-pages', '1', '--bogus'], 'bogus'],
  ])('%j: one line naming %s, exit 2', async (argv, names) => {
    expect(await run(...argv)).toBe(2);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toContain(names);
    expect(out).toBe('');
  });
});

describe('checkModel: the prediction from what a run measured', () => {
  const round = (n: number, pagesSent: number, ms: number, final = false) =>
    ({ round: n, final, pagesSent, ms, pagesResent: 0, bytesOnWire: 0, pagesDirtiedMeanwhile: 0, expectedDowntimeMs: 0, switchoverCostMs: 0, busyMs: 0, pageCostUs: 0, bandwidthBytesPerSec: 0, throttlePercent: 0 });
  const report = () =>
    emptyReport({ status: 'completed', guestId: 'g', target: 't:1', policy: 'downtime', streams: 1, memoryBytes: 4096 * 2000, guestOpsAtStart: 0, peakRssBytes: 0 });

  it('reads M, B and W_M from the rounds and compares the model with them', () => {
    const r = report();
    r.rounds = [round(1, 1000, 2000), round(2, 200, 200), round(3, 10, 10, true)];
    const check = checkModel(r)!;
    // M = 1000 pages; B = 1200 pages * 4096 B / 2.2 s = 2,234,182 B/s; W_M = (200 + 10) pages / 2.2 s = 95.45/s.
    expect(check.input).toMatchObject({ memoryPages: 1000, workingSetPages: 0, preprocessSec: 0 });
    expect(check.input.bandwidthBytesPerSec).toBeCloseTo((1200 * 4096) / 2.2, 6);
    expect(check.input.dirtyPagesPerSec).toBeCloseTo(210 / 2.2, 9);
    // By hand: T_0 = 1000 * 4096 / B = 1.8333 s; M_1 = 175 > W_M; T_1 = 0.3208 s; M_2 = 30.6 <= W_M stops;
    // T_stop = 0.0561 s; T_total = 2.2103 s over 1205.6 pages.
    expect(check.predicted).toEqual({ pushRounds: 2, stopSec: 0.056, totalSec: 2.21, totalPages: 1206 });
    expect(check.measured).toEqual({ pushRounds: 2, stopSec: 0.01, totalSec: 2.21, totalPages: 1210 });
    expect(check.totalError).toBe(0);
  });

  it('counts the working set deferred by round 1 in M and leaves the deferred pages out of W_M', () => {
    const r = report();
    r.rounds = [round(1, 900, 900), round(2, 0, 5), round(3, 150, 20, true)];
    r.workingSet = { capacityPages: 128, sizePages: 128, inactivePages: 0, preprocessMs: 500, samples: 5, firstRoundDeferred: 100, deferrals: 100, pagesDeferred: 100, deferredDirtyAtStop: 0, deferredRedirtied: 0, releasedPages: 0 };
    const check = checkModel(r)!;
    expect(check.input.memoryPages).toBe(1000);
    expect(check.input.workingSetPages).toBe(128);
    expect(check.input.preprocessSec).toBe(0.5);
    expect(check.input.dirtyPagesPerSec).toBeCloseTo(50 / 0.905, 9);
    expect(check.measured.totalSec).toBeCloseTo(0.5 + 0.925, 9);
  });

  it('is null for a run without a stop-and-copy round', () => {
    expect(checkModel(report())).toBeNull();
  });
});
