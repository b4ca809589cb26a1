import { describe, expect, it } from 'vitest';
import { ENCODING_NAMES, PAGE_ENCODING_NAMES, PageEncoding, emptyEncodingCounts, pageEncodingName } from '@livemig/protocol';

// One list of encoding names, in the protocol package: the source's report, PageBatchStats and bench count by it.
describe('encoding names', () => {
  it('counts every page entry under one of ENCODING_NAMES, and every name has an entry', () => {
    expect(new Set(Object.values(PAGE_ENCODING_NAMES))).toEqual(new Set(ENCODING_NAMES));
  });

  it('starts counts at 0 for every name, in report order', () => {
    const counts = emptyEncodingCounts();
    expect(Object.keys(counts)).toEqual([...ENCODING_NAMES]);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    expect(emptyEncodingCounts()).not.toBe(counts);
  });

  it('names each wire code as PROTOCOL.md does', () => {
    const names = Object.values(PageEncoding).map((code) => pageEncodingName(code));
    expect(names).toEqual(['Zero', 'SameByte', 'Lz4', 'Raw', 'Delta', 'Lz4Run', 'ZstdRun']);
    expect(pageEncodingName(9)).toBe('unknown(9)');
  });
});
