import { GuestError, GuestErrorCode } from '../errors.js';
import type { WorkloadSpec } from '../workload-spec.js';
import { VirtualDisk } from './disk.js';
import { kernelLayout, kernelSizes, layoutProblem } from './layout.js';

/**
 * Checks, before any vCPU starts, that a guest-kernel workload fits its memory and has its disk.
 * @throws GuestError LM_ERR_BAD_WORKLOAD when a vCPU's kernel does not fit its partition; LM_ERR_DISK without
 *   a disk, or with one that cannot be opened or is smaller than `diskBytes`
 */
export function checkKernelFits(workload: WorkloadSpec, vcpus: number, pageCount: number, disk: string | undefined): void {
  const sizes = kernelSizes(workload.params);
  for (let i = 0; i < vcpus; i++) {
    const problem = layoutProblem(kernelLayout(sizes, i, vcpus, pageCount));
    if (problem !== undefined) throw new GuestError(GuestErrorCode.BAD_WORKLOAD, `${workload.name}: ${problem}`);
  }
  if (disk === undefined) throw new GuestError(GuestErrorCode.DISK, `the ${workload.name} workload needs a disk (--disk FILE)`);
  VirtualDisk.open(disk, sizes.diskBytes).close();
}
