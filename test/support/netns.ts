import { execFileSync } from 'node:child_process';

/**
 * Two network namespaces joined by a veth pair, for agents on two "hosts" (ARCHITECTURE.md: `ip netns` with
 * veth pairs works here, as root). Names and the 10.202.0.0/24 addresses are this suite's own.
 */
export const NETNS = [
  { name: 'lmsec-a', veth: 'lmsec-va', address: '10.202.0.1' },
  { name: 'lmsec-b', veth: 'lmsec-vb', address: '10.202.0.2' },
] as const;

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

/** Whether this process may make network namespaces (root with iproute2). */
export function canMakeNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip('netns', 'list');
    return true;
  } catch {
    return false;
  }
}

/** Makes both namespaces and the veth pair between them (removing leftovers of an earlier run first). */
export function makeNetns(): void {
  removeNetns();
  const [a, b] = NETNS;
  for (const ns of NETNS) ip('netns', 'add', ns.name);
  ip('link', 'add', a.veth, 'type', 'veth', 'peer', 'name', b.veth);
  for (const ns of NETNS) {
    ip('link', 'set', ns.veth, 'netns', ns.name);
    ip('-n', ns.name, 'addr', 'add', `${ns.address}/24`, 'dev', ns.veth);
    ip('-n', ns.name, 'link', 'set', ns.veth, 'up');
    ip('-n', ns.name, 'link', 'set', 'lo', 'up');
  }
}

/** Removes both namespaces (their veth ends go with them); never throws. */
export function removeNetns(): void {
  for (const ns of NETNS) {
    try {
      ip('netns', 'del', ns.name);
    } catch {
      // not there
    }
  }
}

/** The command prefix that runs a process inside namespace `name`. */
export function inNetns(name: string): string[] {
  return ['ip', 'netns', 'exec', name];
}
