import { describe, expect, it } from 'vitest';
import { checkFeatureCombination, type FeatureChoice } from '../dist/outgoing/feature-combinations.js';

const PLAIN: FeatureChoice = { mode: 'precopy', workload: 'uniform', workingSetPages: 0, softPages: false, balloon: false };

// Each refused combination would lose pages (or, for the working set on a kernel guest, do nothing while
// claiming to); every other one passes. Table-driven, as the refusals are the contract.
describe('checkFeatureCombination', () => {
  it.each<[string, Partial<FeatureChoice>, RegExp]>([
    ['soft pages without a kernel', { softPages: true }, /workload has no guest kernel/],
    ['the balloon without a kernel', { balloon: true }, /workload has no guest kernel/],
    ['a kernel guest in post-copy', { workload: 'fileserver', mode: 'postcopy' }, /--mode postcopy: the fileserver guest's kernel/],
    ['a kernel guest in hybrid', { workload: 'fileserver', mode: 'hybrid' }, /--mode hybrid: the fileserver guest's kernel/],
    ['the working set in post-copy', { workingSetPages: 8, mode: 'postcopy' }, /--working-set works with --mode precopy only, not postcopy/],
    ['the working set with soft pages', { workingSetPages: 8, workload: 'fileserver', softPages: true }, /cannot be combined with --soft-pages/],
    ['the working set on a kernel guest', { workingSetPages: 8, workload: 'fileserver' }, /marks no page accessed/],
  ])('refuses %s with LM_ERR_BAD_ARGUMENT', (_, change, message) => {
    expect(() => checkFeatureCombination({ ...PLAIN, ...change })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it.each<[string, Partial<FeatureChoice>]>([
    ['plain pre-copy', {}],
    ['post-copy', { mode: 'postcopy' }],
    ['hybrid', { mode: 'hybrid' }],
    ['the working set in pre-copy', { workingSetPages: 8 }],
    ['soft pages and the balloon on a kernel guest', { workload: 'fileserver', softPages: true, balloon: true }],
  ])('accepts %s', (_, change) => {
    expect(() => checkFeatureCombination({ ...PLAIN, ...change })).not.toThrow();
  });
});

// Direct pages count on every page that changed under its send being sent again; the soft-page and balloon
// filters see to that themselves (DirectSends), so those migrations offer the direct form too.
describe('offersDirectPages', () => {
  it('offers direct-pages-v2 by default, with --soft-pages and --balloon too, and not with --no-direct-pages', async () => {
    const { offersDirectPages } = await import('../dist/outgoing/handshake.js');
    expect(offersDirectPages({})).toBe(true);
    expect(offersDirectPages({ directPages: false })).toBe(false);
    expect(offersDirectPages({ directPages: true, softPages: true, balloon: true })).toBe(true);
  });
});
