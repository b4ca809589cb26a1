/** Guest page size in bytes: the unit of dirty tracking, transfer and digest. */
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** Default memory slot: one SharedArrayBuffer per GiB, like a KVM memory slot. */
export const DEFAULT_SLOT_BYTES = 1024 ** 3;

/** One typed-array view cannot exceed 4 GiB in V8, so neither can a slot. */
export const MAX_SLOT_BYTES = 2 ** 32;

/** Page indices travel as u32 (registers, wire, digest), so a guest has fewer than 2^32 pages. */
export const MAX_PAGE_COUNT = 2 ** 32 - 1;

/** Most vCPUs a guest runs, each a worker thread (a Hello may claim more: protocol's MAX_WIRE_VCPUS). */
export const MAX_VCPUS = 64;
