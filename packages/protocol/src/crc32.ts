/**
 * The CRC-32 of frames and pages: zlib's CRC (IEEE polynomial), so `zlib.crc32` gives the same values, but
 * computed with carry-less multiplication (PCLMULQDQ) where the CPU has it. On 4 KiB pages here it ran at
 * 3.8-5.2 GB/s against 1.4-1.9 GB/s for `zlib.crc32`, which was the largest single cost of sending and of
 * receiving a Raw page (see docs/PERFORMANCE.md).
 */
export { crc32 } from '@node-rs/crc32';
