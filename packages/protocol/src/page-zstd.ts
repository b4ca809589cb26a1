import zstd from 'zstd-napi/binding.js';

/**
 * zstd level for ZstdRun blocks unless set otherwise: 1, as QEMU's multifd-zstd-level defaults to. On 16-page
 * runs of the bench's text pages here, level 1 came to 13 % of the pages against lz4's 24 % (levels 3 and -1:
 * 12.7 % and 14.6 %, at about the same speed on this machine); zstd is the encoding for links slower than the
 * cores. A higher level pays only where the link is slower still (setZstdLevel).
 */
export const ZSTD_LEVEL = 1;

// One context per thread (each channel thread loads this module once): zstd reuses its tables between calls.
let compressor: zstd.CCtx | undefined;
let decompressor: zstd.DCtx | undefined;
/** This thread's level for the blocks it encodes from now on. */
let level = ZSTD_LEVEL;

/**
 * Sets the zstd level of this thread's next blocks (1..19; a zstd frame names nothing the decoder needs to be
 * told, so the destination reads every level alike). On 16-page runs of the bench's `real` image here, one core:
 * level 1 encoded 552 MB/s to 20.7 %, 3 452 MB/s to 19.9 %, 6 137 MB/s to 18.8 %, 9 76 MB/s to 18.5 %.
 */
export function setZstdLevel(next: number): void {
  level = next;
}

/**
 * Compresses `input` into `output[start, end)`; returns the block's length, or 0 when it does not fit there
 * (then the pages go as they are).
 */
export function zstdEncodeBlock(input: Uint8Array, output: Buffer, start: number, end: number): number {
  compressor ??= new zstd.CCtx();
  try {
    return compressor.compress(output.subarray(start, end), input, level);
  } catch {
    // "Destination buffer is too small": the block would not be smaller than the pages.
    return 0;
  }
}

/**
 * Inflates the zstd frame `input` into `output`, which it must fill exactly; zstd never writes past
 * `output`'s end. Returns the bytes written, or -1 when the frame is corrupt or inflates past `output`.
 */
export function zstdDecodeBlock(input: Uint8Array, output: Uint8Array): number {
  decompressor ??= new zstd.DCtx();
  try {
    return decompressor.decompress(output, input);
  } catch {
    return -1;
  }
}
