import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) of one /proc stat line: fields 14 and 15, counted after the `(comm)` field. */
function statSeconds(path: string): number {
  const text = readFileSync(path, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of process `pid` so far, in total and per thread id; null once it is gone. */
export function processCpu(pid: number): { total: number; threads: Map<number, number> } | null {
  try {
    const threads = new Map<number, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        threads.set(Number(tid), statSeconds(`/proc/${pid}/task/${tid}/stat`));
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return { total: statSeconds(`/proc/${pid}/stat`), threads };
  } catch {
    return null;
  }
}

/** The thread that used the most CPU between two samples (a flat-out vCPU), and how much. */
export function busiestThread(before: Map<number, number>, after: Map<number, number>): { tid: number; seconds: number } | null {
  let best: { tid: number; seconds: number } | null = null;
  for (const [tid, seconds] of after) {
    const used = seconds - (before.get(tid) ?? 0);
    if (best === null || used > best.seconds) best = { tid, seconds: used };
  }
  return best;
}
