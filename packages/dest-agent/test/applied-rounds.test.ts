import { describe, expect, it } from 'vitest';
import { AppliedRounds, MAX_OPEN_ROUNDS } from '../dist/applied-rounds.js';

describe('AppliedRounds', () => {
  it('makes a round whole once every channel ended it, in order, with the pages summed and the slowest time', () => {
    const rounds = new AppliedRounds(2);
    expect(rounds.channelEnded(1, 10, 3)).toEqual([]);
    expect(rounds.channelEnded(2, 5, 1)).toEqual([]);
    expect(rounds.channelEnded(1, 20, 7)).toEqual([{ round: 1, pages: 30, applyMs: 7 }]);
    expect(rounds.channelEnded(2, 0, 2)).toEqual([{ round: 2, pages: 5, applyMs: 2 }]);
  });

  it('refuses a channel running more than MAX_OPEN_ROUNDS ahead of the slowest (a source ending rounds on one channel only)', () => {
    const rounds = new AppliedRounds(2);
    for (let round = 1; round <= MAX_OPEN_ROUNDS; round++) expect(rounds.channelEnded(round, 0, 0)).toEqual([]);
    expect(() => rounds.channelEnded(MAX_OPEN_ROUNDS + 1, 0, 0)).toThrow(expect.objectContaining({ code: 'LM_ERR_UNEXPECTED_FRAME' }));
    // Once the other channel catches up, the table empties and the lead starts again from there.
    expect(rounds.channelEnded(1, 0, 0)).toHaveLength(1);
    expect(rounds.channelEnded(MAX_OPEN_ROUNDS + 1, 0, 0)).toEqual([]);
  });
});
