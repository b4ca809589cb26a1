import { openSync, writeSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

/**
 * LIVEMIG_TIMELINE=<file> makes every thread of an agent append one line per step of a migration's set-up and
 * switch to <file>: `<ms since the epoch>\t<process:thread>\t<step>`. The clock is performance.timeOrigin +
 * performance.now(), one clock for every thread and process on the host, so the lines of both agents sort
 * into one timeline (bench/scripts/switch-timeline.mjs prints it). For finding where a migration's fixed
 * cost goes, not for production: each mark is a synchronous write to a file each thread opens once for
 * appending (a few microseconds). Unset, a mark costs one comparison. A file that cannot be opened or written
 * turns the marks off: they sit inside stop-and-copy and the channel threads' rounds, which they must never fail.
 */
let path = process.env.LIVEMIG_TIMELINE || undefined;
let fd: number | undefined;
const who = `${process.pid}:${isMainThread ? 'main' : `t${threadId}`}`;

/** Records that this thread reached `step` now (only with LIVEMIG_TIMELINE set). */
export function markStep(step: string): void {
  if (path === undefined) return;
  try {
    fd ??= openSync(path, 'a');
    writeSync(fd, `${(performance.timeOrigin + performance.now()).toFixed(3)}\t${who}\t${step}\n`);
  } catch (error) {
    path = undefined;
    process.emitWarning(`LIVEMIG_TIMELINE: no timeline is written (${(error as Error).message})`);
  }
}
