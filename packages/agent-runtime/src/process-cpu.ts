/**
 * CPU time this process has used since `start` (a `process.cpuUsage()` reading), user plus system, in
 * milliseconds to one decimal. getrusage(RUSAGE_SELF) underneath: it counts every thread of the process,
 * so the channel threads, the receiver threads and (at a source) the guest's own vCPU workers are in it.
 */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / 100) / 10;
}
