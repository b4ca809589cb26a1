/**
 * Whether a connection's remote address is `expected` (the source's, taken from its control connection): an
 * IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`, which counts as `a.b.c.d`.
 */
export function sameAddress(address: string | undefined, expected: string): boolean {
  const plain = (value: string | undefined): string | undefined => value?.replace(/^::ffff:/, '');
  return plain(address) === plain(expected);
}
