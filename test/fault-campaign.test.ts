import { describe, expect, it } from 'vitest';
import { CAMPAIGN_GUEST, FAULT_KINDS, faultCampaign, type FaultOutput } from '../bench/src/faults.js';
import type { FaultRun } from '../bench/src/faults-run.js';

// The fault campaign's short form (issue 15; the long form is `npm run bench -- faults`, docs/PERFORMANCE.md):
// real agents, a real proxy on every connection, one migration per fault. Each fault strikes as soon as the
// proxy sees Hello (a data channel's cut or flip when that channel opens), so every one of them is applied; the
// stall is short and the source's answer and outcome timeouts are shortened with their flags. What is checked:
// the guest ends on exactly one host (or parked, as documented), its final digest is the oracle's, and the
// destination's threads and descriptors come back to their idle level (RSS within the campaign's slack).
const SOURCE = ['--dirty-rate', '4MiB', '--migrate-after', '1500ms', '--max-bandwidth', '8MB/s', '--compress', 'none', '--answer-timeout', '1s', '--outcome-timeout', '30s'];

describe('the fault campaign, one migration per fault', () => {
  let out: FaultOutput;
  const run = (kind: string, link?: string): FaultRun =>
    out.results.find((r) => r.kind === kind && (link === undefined || r.link === link))!;

  it('runs every fault kind once, and each is applied', { timeout: 900_000 }, async () => {
    out = await faultCampaign({
      runs: 8,
      seed: 152026,
      kinds: [...FAULT_KINDS],
      stallMs: [1000, 1000],
      guestArgs: CAMPAIGN_GUEST,
      sourceArgs: SOURCE,
      streams: 2,
      timeoutMs: 300_000,
      settleMs: 60_000,
      schedule: [
        { kind: 'drop-committed' },
        { kind: 'cut', link: { kind: 'control' } },
        { kind: 'cut', link: { kind: 'channel', index: 1 } },
        { kind: 'flip', link: { kind: 'channel', index: 0 } },
        { kind: 'flip', link: { kind: 'control' } },
        { kind: 'stall' },
        { kind: 'kill' },
        { kind: 'restart' },
      ],
    });
    expect(out.results.map((r) => r.kind)).toEqual(['drop-committed', 'cut', 'cut', 'flip', 'flip', 'stall', 'kill', 'restart']);
    for (const r of out.results) {
      expect(r.applied.filter((a) => a.startsWith('not applied')), JSON.stringify(r)).toEqual([]);
    }
    expect(run('drop-committed').applied).toContain('drop: Committed not forwarded');
    expect(run('kill').applied).toContain('kill -9 of the destination');
    expect(run('cut', 'data channel 1').applied.some((a) => a.startsWith('cut: reset data channel 1'))).toBe(true);
    expect(run('flip', 'data channel 0').applied.some((a) => a.startsWith('flip: byte'))).toBe(true);
  });

  it('leaves the guest on exactly one host with the oracle\'s digest, never on two or none', () => {
    for (const r of out.results) {
      expect(['source', 'destination', 'parked-resumed'], JSON.stringify(r)).toContain(r.placement);
      expect(r.digestMatches, JSON.stringify(r)).toBe(true);
    }
    expect(out.defects).toEqual([]);
  });

  it('finishes at the destination after a lost Committed, as the outcome query decided', () => {
    const r = run('drop-committed');
    expect(r).toMatchObject({ placement: 'destination', sourceStatus: 'completed', outcomeAnswer: 'committed', destStatus: 'completed' });
  });

  it('keeps the guest at the source when the destination dies or its connection is cut before the commit', () => {
    expect(run('kill')).toMatchObject({ placement: 'source', sourceExit: 1, destStatus: 'gone' });
    expect(run('restart')).toMatchObject({ placement: 'source', sourceExit: 1 });
    expect(run('cut', 'the control connection')).toMatchObject({ placement: 'source', sourceExit: 1 });
  });

  it('brings the destination back to its idle threads and descriptors after every run it survived', () => {
    const survived = out.results.filter((r) => r.after !== null);
    expect(survived.length).toBeGreaterThanOrEqual(7);
    for (const r of survived) {
      expect(r.backToIdle, JSON.stringify(r)).toBe(true);
      expect(r.after!.threads).toBeLessThanOrEqual(r.idle!.threads);
      expect(r.after!.fds).toBeLessThanOrEqual(r.idle!.fds);
    }
  });
});
