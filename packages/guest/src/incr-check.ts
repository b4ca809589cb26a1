import { PAGE_SIZE } from './constants.js';
import type { GuestMemory } from './memory.js';
import { partition } from './registers.js';

export interface IncrCheck {
  ok: boolean;
  /** Places, summed over partitions, where byte 0 drops by exactly one: where each incrementer stood. */
  edges: number;
  detail: string;
}

const MAX_PROBLEMS = 5;

/**
 * QEMU migration-test's check, per vCPU partition of an `incr` guest: walking the pages in address order,
 * byte 0 equals the previous page's except at most one edge where it is exactly one less (mod 256), and
 * every other byte is zero. Anything else is a lost, stale or torn page.
 */
export function checkIncrPattern(memory: GuestMemory, vcpus: number): IncrCheck {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > memory.pageCount) {
    return { ok: false, edges: 0, detail: `bad vCPU count ${vcpus}` };
  }
  const problems: string[] = [];
  const note = (problem: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(problem);
  };
  const written = new Set(memory.writtenPages());
  const byte0 = (page: number): number => (written.has(page) ? (memory.page(page)[0] as number) : 0);
  let edges = 0;
  for (let i = 0; i < vcpus; i++) {
    const { start, length } = partition(i, vcpus, memory.pageCount);
    let partitionEdges = 0;
    let previous = byte0(start);
    for (let page = start + 1; page < start + length; page++) {
      const current = byte0(page);
      if (current === previous) continue;
      if (current === ((previous - 1) & 0xff)) partitionEdges++;
      else note(`page ${page}: byte 0 is ${current} after ${previous}`);
      previous = current;
    }
    if (partitionEdges > 1) note(`partition ${i}: ${partitionEdges} edges`);
    edges += partitionEdges;
  }
  for (const page of written) {
    const bytes = memory.page(page);
    for (let b = 1; b < PAGE_SIZE; b++) {
      if (bytes[b] !== 0) {
        note(`page ${page}: byte ${b} is ${bytes[b]}`);
        break;
      }
    }
  }
  const ok = problems.length === 0;
  return { ok, edges, detail: ok ? `${edges} edge(s) over ${vcpus} partition(s)` : problems.join('; ') };
}
