/**
 * Two network namespaces joined by a veth pair, with a `tc tbf` rate limit on both ends: a link of a chosen speed
 * between a source and a destination on one machine. Needs root (`ip netns`, `tc`). The names and addresses are
 * this bench's own, so that other users of the machine's namespaces are not touched.
 */
import { execFileSync } from 'node:child_process';

export const NAMESPACE_A = 'lmdp-a';
export const NAMESPACE_B = 'lmdp-b';
export const ADDRESS_A = '10.203.0.1';
export const ADDRESS_B = '10.203.0.2';
const VETH_A = 'lmdp-va';
const VETH_B = 'lmdp-vb';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The namespaces this bench made that exist now (a run that was killed may have left them). */
export function linkNamespacesPresent(): string[] {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return list
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name === NAMESPACE_A || name === NAMESPACE_B);
}

/** Removes both namespaces (the veth pair goes with them); never throws. */
export function removeLinkNamespaces(): void {
  for (const name of [NAMESPACE_A, NAMESPACE_B]) {
    try {
      ip('netns', 'delete', name);
    } catch {
      // Not there.
    }
  }
}

/** The link between the namespaces: a command prefix to run a process in each, and the rate limit. */
export interface LinkNet {
  /** Prefix that runs a command in namespace A (the source's side) or B (the destination's). */
  inA: string[];
  inB: string[];
  /** Limits both directions to `mbit` Mbit/s with tbf (null: no limit, the veth's own speed). */
  setRate(mbit: number | null): void;
}

/**
 * Creates the namespaces and the veth pair, runs `body`, and removes them however `body` ends; also on a
 * signal or an exit in between (a process 'exit' hook). Namespaces left by an earlier run are removed first.
 */
export async function withLinkNamespaces<T>(body: (net: LinkNet) => Promise<T>): Promise<T> {
  removeLinkNamespaces();
  process.once('exit', removeLinkNamespaces);
  try {
    ip('netns', 'add', NAMESPACE_A);
    ip('netns', 'add', NAMESPACE_B);
    ip('link', 'add', VETH_A, 'netns', NAMESPACE_A, 'type', 'veth', 'peer', 'name', VETH_B, 'netns', NAMESPACE_B);
    ip('-n', NAMESPACE_A, 'addr', 'add', `${ADDRESS_A}/24`, 'dev', VETH_A);
    ip('-n', NAMESPACE_B, 'addr', 'add', `${ADDRESS_B}/24`, 'dev', VETH_B);
    for (const [ns, dev] of [[NAMESPACE_A, VETH_A], [NAMESPACE_B, VETH_B]] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    const net: LinkNet = {
      inA: ['ip', 'netns', 'exec', NAMESPACE_A],
      inB: ['ip', 'netns', 'exec', NAMESPACE_B],
      setRate(mbit) {
        for (const [ns, dev] of [[NAMESPACE_A, VETH_A], [NAMESPACE_B, VETH_B]] as const) {
          if (mbit === null) {
            try {
              execFileSync('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore' });
            } catch {
              // No qdisc of ours there.
            }
            continue;
          }
          // The bucket holds 4 ms of the rate (at least 64 KiB): tbf needs at least one timer tick's worth.
          const burst = Math.max(64 * 1024, Math.ceil((mbit * 1e6) / 8 / 250));
          execFileSync('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', '100ms'], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
        }
      },
    };
    return await body(net);
  } finally {
    removeLinkNamespaces();
    process.off('exit', removeLinkNamespaces);
  }
}
