import { execFileSync } from 'node:child_process';

/**
 * A slow link between two network namespaces: a veth pair shaped by `tc tbf` in both directions (netem is
 * not available here). Needs root. Names and addresses are this benchmark's own (lmws-*, 10.201.0.0/24), so
 * it does not collide with other namespaces on the host.
 */
export const LINK = {
  source: { ns: 'lmws-a', dev: 'lmws-va', address: '10.201.0.1' },
  dest: { ns: 'lmws-b', dev: 'lmws-vb', address: '10.201.0.2' },
} as const;

function run(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Removes the namespaces (and with them the veth pair); quiet when they do not exist. */
export function removeLink(): void {
  for (const end of [LINK.source, LINK.dest]) {
    try {
      run('ip', 'netns', 'del', end.ns);
    } catch {
      // not there
    }
  }
}

/** Creates the namespace pair with `rateBytesPerSec` each way. @returns the `wrap` to run a node child in each */
export function createLink(rateBytesPerSec: number): { source: string[]; dest: string[] } {
  removeLink();
  const kbit = Math.round((rateBytesPerSec * 8) / 1000);
  run('ip', 'netns', 'add', LINK.source.ns);
  run('ip', 'netns', 'add', LINK.dest.ns);
  run('ip', 'link', 'add', LINK.source.dev, 'type', 'veth', 'peer', 'name', LINK.dest.dev);
  for (const end of [LINK.source, LINK.dest]) {
    run('ip', 'link', 'set', end.dev, 'netns', end.ns);
    run('ip', '-n', end.ns, 'addr', 'add', `${end.address}/24`, 'dev', end.dev);
    run('ip', '-n', end.ns, 'link', 'set', end.dev, 'up');
    run('ip', '-n', end.ns, 'link', 'set', 'lo', 'up');
    // Burst above rate / HZ so the bucket can reach the rate; latency bounds the queue.
    run('tc', '-n', end.ns, 'qdisc', 'add', 'dev', end.dev, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '64kb', 'latency', '100ms');
  }
  return { source: ['ip', 'netns', 'exec', LINK.source.ns], dest: ['ip', 'netns', 'exec', LINK.dest.ns] };
}
