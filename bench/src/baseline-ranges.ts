/** How the baseline's bytes split over its connections: contiguous, page-aligned shares, in connection order. */
const PAGE_BYTES = 4096;

export interface ByteRange {
  from: number;
  to: number;
}

/** `connections` contiguous ranges covering [0, bytes), each a whole number of pages except possibly the last. */
export function connectionRanges(bytes: number, connections: number): ByteRange[] {
  const pages = Math.ceil(bytes / PAGE_BYTES);
  const ranges: ByteRange[] = [];
  for (let i = 0; i < connections; i++) {
    const from = Math.min(bytes, Math.floor((i * pages) / connections) * PAGE_BYTES);
    const to = Math.min(bytes, Math.floor(((i + 1) * pages) / connections) * PAGE_BYTES);
    ranges.push({ from, to });
  }
  return ranges;
}
