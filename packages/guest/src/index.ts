export { DEFAULT_SLOT_BYTES, PAGE_SIZE } from './constants.js';
export { digestGuest } from './digest.js';
export { GuestError, GuestErrorCode } from './errors.js';
export { Guest, type GuestStartOptions } from './guest.js';
export { VcpuPool } from './vcpu-pool.js';
export { checkIncrPattern, type IncrCheck } from './incr-check.js';
export { GuestMemory, type SharedMemoryHandles } from './memory.js';
export { type CpuState, REGISTER_FILE_BYTES, validateCpuState } from './registers.js';
export { parseWorkloadSpec, WORKLOAD_NAMES, type WorkloadName, type WorkloadSpec } from './workload-spec.js';
