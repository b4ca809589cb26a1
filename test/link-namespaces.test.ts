import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ADDRESS_B, NAMESPACE_A, NAMESPACE_B, linkNamespacesPresent, withLinkNamespaces } from '../bench/src/link-namespaces.js';

// The link bench (`npm run bench -- links`) makes two network namespaces of its own; they must be gone after it,
// however it ended. Needs root, as the bench does.
describe.skipIf(process.getuid?.() !== 0)('link bench namespaces', () => {
  it('are made with a veth pair between them, and removed when the body fails', async () => {
    const failure = withLinkNamespaces(async (net) => {
      expect(linkNamespacesPresent().sort()).toEqual([NAMESPACE_A, NAMESPACE_B]);
      net.setRate(100);
      expect(execFileSync('tc', ['-n', NAMESPACE_A, 'qdisc', 'show'], { encoding: 'utf8' })).toContain('tbf');
      expect(execFileSync(net.inB[0]!, [...net.inB.slice(1), 'ip', 'addr', 'show'], { encoding: 'utf8' })).toContain(ADDRESS_B);
      throw new Error('the bench failed here');
    });
    await expect(failure).rejects.toThrow('the bench failed here');
    expect(linkNamespacesPresent()).toEqual([]);
  });

  it('left behind by a killed run are removed before new ones are made', async () => {
    execFileSync('ip', ['netns', 'add', NAMESPACE_A]);
    await withLinkNamespaces(async () => {
      expect(linkNamespacesPresent().sort()).toEqual([NAMESPACE_A, NAMESPACE_B]);
    });
    expect(linkNamespacesPresent()).toEqual([]);
  });
});
