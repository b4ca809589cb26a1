import { existsSync } from 'node:fs';
import { formatDisk, type WorkloadSpec } from '@livemig/guest';
import { parseDuration, parseSize, type Logger } from '@livemig/agent-runtime';
import { BadArgumentError } from '@livemig/protocol';

/** The guest-kernel flags of `source-agent run`, as they appear on the command line. */
export interface KernelArguments {
  diskBytes?: string;
  cacheBytes?: string;
  anonBytes?: string;
  hintInterval?: string;
  guestKernel?: string;
}

/**
 * How the guest kernel treats the host: honest; silent (never answers the pre-suspend interrupt); liar (calls
 * its anonymous pages soft). The last two exist to show what the host does with a guest it cannot trust.
 */
export const GUEST_KERNEL_BEHAVIOURS = ['honest', 'silent', 'liar'] as const;

/** The workload parameters the guest-kernel flags set (absent flags keep the workload's defaults). */
export function kernelParams(args: KernelArguments): Record<string, number> {
  const params: Record<string, number> = {};
  if (args.diskBytes !== undefined) params['diskBytes'] = parseSize(args.diskBytes, 'disk-bytes');
  if (args.cacheBytes !== undefined) params['cacheBytes'] = parseSize(args.cacheBytes, 'cache-bytes');
  if (args.anonBytes !== undefined) params['anonBytes'] = parseSize(args.anonBytes, 'anon-bytes');
  if (args.hintInterval !== undefined) params['hintIntervalMs'] = parseDuration(args.hintInterval, 'hint-interval');
  if (args.guestKernel !== undefined) {
    if (!(GUEST_KERNEL_BEHAVIOURS as readonly string[]).includes(args.guestKernel)) {
      throw new BadArgumentError(`--guest-kernel: expected one of ${GUEST_KERNEL_BEHAVIOURS.join(', ')}, got ${args.guestKernel}`);
    }
    params['irqAck'] = args.guestKernel === 'silent' ? 0 : 1;
    params['lieSoft'] = args.guestKernel === 'liar' ? 1 : 0;
  }
  return params;
}

/**
 * A --disk that does not exist yet is created with the deterministic fresh contents of the workload's seed
 * (diskBytes of them), so that two runs of one seed on fresh disks start alike; an existing one is used as is.
 */
export function prepareDisk(path: string, workload: WorkloadSpec, log: Logger): void {
  if (existsSync(path) || workload.params['diskBytes'] === undefined) return;
  formatDisk(path, workload.params['diskBytes'], workload.seed);
  log.info({ disk: path, bytes: workload.params['diskBytes'] }, 'virtual disk created');
}
