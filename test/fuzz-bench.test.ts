import { describe, expect, it } from 'vitest';
import { fuzz, type LiveFuzzResult } from '../bench/src/fuzz.js';
import { fuzzDecoder } from '../bench/src/fuzz-decoder.js';
import { BLOCK_INPUTS, sampleBlock, streamInput } from '../bench/src/fuzz-inputs.js';

// The fuzz campaign's long form (`npm run bench -- fuzz`, 100,000 inputs) in miniature: the same code over a few
// hundred inputs, so that the campaign itself is known to work and to check what it claims.
describe('fuzz bench', () => {
  it('replays: the same seed gives the same inputs, block by block', () => {
    const again = sampleBlock(streamInput, 77, 3);
    expect(again).toHaveLength(BLOCK_INPUTS);
    expect(sampleBlock(streamInput, 77, 3).map((b) => b.toString('hex'))).toEqual(again.map((b) => b.toString('hex')));
    expect(sampleBlock(streamInput, 77, 4)[0]!.equals(again[0]!)).toBe(false);
  });

  it('decoder in-process: every input ends cleanly or with a typed error, whole or split, and some pages land', () => {
    const result = fuzzDecoder(15_2026, 2000);
    expect(result.findings).toEqual([]);
    expect(result.inputs).toBe(2000);
    expect(result.untypedErrors).toBe(0);
    expect(result.splitMismatches).toBe(0);
    expect(result.pagesApplied).toBeGreaterThan(0);
    for (const code of Object.keys(result.outcomes)) expect(code).toMatch(/^(none|LM_ERR_[A-Z_]+)$/);
  });

  it('live destinations, plain and TLS: no crash, no hang, typed errors, nothing reserved, a real migration after', async () => {
    const out = await fuzz({ inputs: 800, seed: 15_2026, timeoutMs: 120_000 });
    const live = out.results.filter((r): r is LiveFuzzResult => r.target !== 'decoder');
    expect(live.map((r) => r.target)).toEqual(['plain', 'tls-psk']);
    for (const r of live) {
      expect(r.findings, r.target).toEqual([]);
      expect(r.survived).toBe(true);
      expect(r.mainPort.inputs + r.dataPorts.inputs).toBe(200);
      expect(r.dataPorts.inputs).toBeGreaterThan(0);
      expect(r.reservations).toBeGreaterThan(0);
      expect(r.mainPort.hung + r.dataPorts.hung + r.controlHangs).toBe(0);
      expect(r.mainPort.connectFailed + r.dataPorts.connectFailed).toBe(0);
      expect([r.reservedBytesAfter, r.receivingAfter]).toEqual([0, 0]);
      expect(r.untypedLogs).toBe(0);
      for (const code of Object.keys(r.loggedCodes)) expect(code).toMatch(/^LM_ERR_[A-Z_]+$/);
      expect(r.rss.samples).toBeGreaterThan(0);
      expect(r.migrationAfter).toEqual({ sourceExit: 0, digestMatches: true, error: null });
    }
    expect(out.notes).toEqual([]);
  });
});
