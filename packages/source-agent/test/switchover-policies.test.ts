import { describe, expect, it } from 'vitest';
import { PAGE_COST_MIN_PAGES, PageCost, RecentRounds, SentHistory, SwitchoverCost, decide, type PolicyOptions, type RoundObservation } from '@livemig/source-agent';

const BOUNDS = { downtimeLimitMs: 300, maxRounds: 30, maxTimeMs: Number.POSITIVE_INFINITY };

function observe(overrides: Partial<RoundObservation>): RoundObservation {
  return {
    round: 2,
    pagesSent: 10_000,
    pagesResent: 0,
    dirtyPages: 5_000,
    dirtyHistory: [8_000, 5_000],
    roundMs: 100,
    bandwidthBytesPerMs: 4096 * 10, // 10 pages per ms: 5000 dirty pages take 500 ms
    elapsedMs: 1_000,
    ...overrides,
  };
}

describe('switchover policies switch for the reason they claim', () => {
  const cases: [string, PolicyOptions['policy'], Partial<RoundObservation>, Partial<PolicyOptions>, string | null][] = [
    ['downtime: expected downtime over the limit', 'downtime', {}, {}, null],
    ['downtime: under the limit', 'downtime', { dirtyPages: 2_000 }, {}, 'downtime-limit'],
    ['downtime: nothing dirty', 'downtime', { dirtyPages: 0 }, {}, 'downtime-limit'],
    ['downtime: nothing dirty, yet the fixed cost is over the limit', 'downtime', { dirtyPages: 0, switchoverCostMs: 20 }, { downtimeLimitMs: 5 }, 'nothing-dirty'],
    ['downtime: the fixed cost counts', 'downtime', { dirtyPages: 2_000, switchoverCostMs: 150 }, {}, null],
    ['xen: many dirty pages, round 2', 'xen', {}, {}, null],
    ['xen: fewer than 50 dirty pages', 'xen', { dirtyPages: 49 }, {}, 'xen-few-dirty'],
    ['xen: round 5', 'xen', { round: 5 }, {}, 'xen-max-rounds'],
    ['patterns: never during the first full pass', 'patterns', { round: 1, dirtyPages: 1, pagesResent: 10_000 }, {}, null],
    ['patterns: still shrinking, little resent', 'patterns', {}, {}, null],
    ['patterns (b): drains within a sampling interval', 'patterns', { dirtyPages: 900 }, {}, 'patterns-drains'],
    ['patterns (c): 90% of the round resent', 'patterns', { pagesResent: 9_000 }, {}, 'patterns-resent'],
    ['patterns (c): 89% is not enough', 'patterns', { pagesResent: 8_900 }, {}, null],
    ['patterns (a): dirty level stable within 5%', 'patterns', { dirtyPages: 5_000, dirtyHistory: [5_200, 5_000] }, {}, 'patterns-stable'],
    ['every policy: max rounds', 'patterns', { round: 30 }, {}, 'max-rounds'],
    ['every policy: max time', 'xen', { elapsedMs: 2_000 }, { maxTimeMs: 1_500 }, 'max-time'],
    ['the policy reason wins over the bounds', 'downtime', { dirtyPages: 10, round: 30 }, {}, 'downtime-limit'],
    // 2,000 pages are 200 ms by their bytes, but 400 ms at 0.2 ms a page (issue 11: small dirty pages).
    ['downtime: the per-page cost keeps it iterating', 'downtime', { dirtyPages: 2_000, pageCostMs: 0.2 }, {}, null],
    ['downtime: a per-page cost under the bytes changes nothing', 'downtime', { dirtyPages: 2_000, pageCostMs: 0.05 }, {}, 'downtime-limit'],
    ['patterns (b): the per-page cost says it does not drain', 'patterns', { dirtyPages: 900, pageCostMs: 0.2 }, {}, null],
    ['xen counts pages, not time', 'xen', { dirtyPages: 49, pageCostMs: 10 }, {}, 'xen-few-dirty'],
  ];
  it.each(cases)('%s', (_, policy, observation, options, reason) => {
    const decision = decide(observe(observation), { ...BOUNDS, ...options, policy });
    expect(decision.reason).toBe(reason);
    expect(decision.switchover).toBe(reason !== null);
  });

  it('reports the expected downtime it decided on: fixed cost plus dirty bytes over bandwidth', () => {
    expect(decide(observe({}), { ...BOUNDS, policy: 'downtime' }).expectedDowntimeMs).toBeCloseTo(500);
    expect(decide(observe({ switchoverCostMs: 12 }), { ...BOUNDS, policy: 'downtime' }).expectedDowntimeMs).toBeCloseTo(512);
  });

  it('takes the larger of the bytes over the bandwidth and the pages times their measured cost', () => {
    const expected = (pageCostMs: number): number => decide(observe({ switchoverCostMs: 12, pageCostMs }), { ...BOUNDS, policy: 'downtime' }).expectedDowntimeMs;
    expect(expected(0.05)).toBeCloseTo(512); // 5,000 pages x 0.05 ms = 250 ms < 500 ms of bytes
    expect(expected(0.3)).toBeCloseTo(1_512); // 5,000 pages x 0.3 ms
  });
});

describe('PageCost (what a dirty page adds to the final round)', () => {
  it('is unknown (0) until a round with a large enough share was measured', () => {
    const cost = new PageCost();
    expect(cost.msPerPage).toBe(0);
    cost.observeRound([{ pages: PAGE_COST_MIN_PAGES - 1, busyMs: 100 }]);
    expect(cost.msPerPage).toBe(0);
  });

  it("takes the slowest channel's time per page, over the number of channels", () => {
    const cost = new PageCost();
    // Channel 0: 0.01 ms a page, channel 1: 0.02 ms a page; two channels share the pages.
    cost.observeRound([
      { pages: 1_000, busyMs: 10 },
      { pages: 1_000, busyMs: 20 },
    ]);
    expect(cost.msPerPage).toBeCloseTo(0.01);
  });

  it('leaves out channels with small shares, and follows later rounds (half weight to the newest)', () => {
    const cost = new PageCost();
    cost.observeRound([
      { pages: 2_000, busyMs: 20 },
      { pages: 10, busyMs: 50 },
    ]);
    expect(cost.msPerPage).toBeCloseTo(0.005);
    cost.observeRound([
      { pages: 1_000, busyMs: 30 },
      { pages: 1_000, busyMs: 30 },
    ]);
    expect(cost.msPerPage).toBeCloseTo(0.5 * 0.015 + 0.5 * 0.005);
  });

  it("is the slower end's: the destination's applying time per page (RoundAck) when it is the larger", () => {
    const cost = new PageCost();
    cost.observeRound([{ pages: 2_000, busyMs: 2 }]);
    expect(cost.msPerPage).toBeCloseTo(0.001);
    // The destination's slowest channel took 6 ms over the round's 2,000 pages; a small round is left out.
    cost.observeDestination(2_000, 6);
    cost.observeDestination(PAGE_COST_MIN_PAGES - 1, 500);
    expect(cost.destinationMsPerPage).toBeCloseTo(0.003);
    expect(cost.sourceMsPerPage).toBeCloseTo(0.001);
    expect(cost.msPerPage).toBeCloseTo(0.003);
    // The source slower again: its cost counts.
    cost.observeRound([{ pages: 2_000, busyMs: 18 }]);
    expect(cost.msPerPage).toBeCloseTo(0.5 * 0.009 + 0.5 * 0.001);
  });
});

describe('RecentRounds (the bandwidth with round acknowledgements)', () => {
  // Rounds that each take a fixed 5 ms beyond their bytes at 400 MB/s (400,000 bytes a ms).
  const LATENCY_MS = 5;
  const RATE = 400_000;
  const roundMs = (pages: number): number => LATENCY_MS + (pages * 4096) / RATE;

  it("keeps a round's latency: it is judged at the rounds before it, not at its own time", () => {
    const cost = new SwitchoverCost(2);
    const recent = new RecentRounds();
    recent.add(10_000 * 4096, roundMs(10_000));
    recent.observeLatency(cost);
    // Round 1 has no round before it: no latency yet (its own rate would make it exactly 0 for good).
    expect(cost.ms).toBeCloseTo(2);
    recent.add(500 * 4096, roundMs(500));
    recent.observeLatency(cost);
    // 5 ms less round 1's latency spread over its bytes (5 ms x 500 / 10,000 pages).
    expect(cost.ms).toBeCloseTo(2 + LATENCY_MS - (LATENCY_MS * 500) / 10_000, 1);
    expect(recent.rate()).toBeCloseTo((10_500 * 4096) / (roundMs(10_000) + roundMs(500)));
  });
});

describe('SentHistory (the previous round, one bit per page)', () => {
  it('counts the pages of a round that the previous round also sent', () => {
    const history = new SentHistory(100);
    expect(history.record(Uint32Array.of(1, 2, 3, 64))).toBe(0);
    expect(history.record(Uint32Array.of(2, 3, 4, 99))).toBe(2);
    // Only the round just before counts: 1 and 64 were two rounds ago.
    expect(history.record(Uint32Array.of(1, 64, 99))).toBe(1);
    expect(history.record(new Uint32Array(0))).toBe(0);
    expect(history.record(Uint32Array.of(1))).toBe(0);
  });
});
