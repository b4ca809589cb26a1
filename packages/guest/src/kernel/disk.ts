import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { PAGE_SIZE } from '../constants.js';
import { GuestError, GuestErrorCode } from '../errors.js';
import { BLOCK_DATA_BYTES } from './layout.js';

/**
 * The virtual disk: a raw file of 4 KiB blocks, read and written by block from the vCPU threads (synchronous
 * pread/pwrite on the worker, as a vCPU blocks on a virtio request). On shared storage both agents open the
 * same path: the source's vCPUs are parked before the destination's start, so the file has one writer at a
 * time. Each block's last 8 bytes are a trailer: u32 block number, u32 write-back generation.
 */
export class VirtualDisk {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /** @throws GuestError LM_ERR_DISK when the file cannot be opened or holds fewer than `bytes` */
  static open(path: string, bytes: number): VirtualDisk {
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (cause) {
      throw new GuestError(GuestErrorCode.DISK, `cannot open disk ${path}: ${(cause as Error).message}`, { cause });
    }
    const size = fstatSync(fd).size;
    if (size < bytes) {
      closeSync(fd);
      throw new GuestError(GuestErrorCode.DISK, `disk ${path} holds ${size} bytes, the workload needs ${bytes}`);
    }
    return new VirtualDisk(path, fd);
  }

  /** Reads block `block` into `into` at `offset` (4096 bytes). */
  read(block: number, into: Uint8Array, offset: number): void {
    const got = readSync(this.fd, into, offset, PAGE_SIZE, block * PAGE_SIZE);
    if (got !== PAGE_SIZE) throw new GuestError(GuestErrorCode.DISK, `disk ${this.path}: short read of block ${block}`);
  }

  /** Writes 4096 bytes of `from` at `offset` to block `block`. */
  write(block: number, from: Uint8Array, offset: number): void {
    const put = writeSync(this.fd, from, offset, PAGE_SIZE, block * PAGE_SIZE);
    if (put !== PAGE_SIZE) throw new GuestError(GuestErrorCode.DISK, `disk ${this.path}: short write of block ${block}`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Deterministic contents of a fresh block: words from a xorshift of (seed, block), then the trailer (gen 0). */
export function fillFreshBlock(block: number, seed: number, into: Uint8Array, offset: number): void {
  const words = new DataView(into.buffer, into.byteOffset + offset, PAGE_SIZE);
  let x = (seed ^ Math.imul(block + 1, 0x9e3779b9)) >>> 0 || 1;
  for (let i = 0; i < BLOCK_DATA_BYTES; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words.setUint32(i, x >>> 0, true);
  }
  words.setUint32(BLOCK_DATA_BYTES, block, true);
  words.setUint32(BLOCK_DATA_BYTES + 4, 0, true);
}

/**
 * Creates (or overwrites) a disk of `bytes` with the deterministic fresh contents of `seed`, so two runs that
 * start from disks formatted alike start alike.
 */
export function formatDisk(path: string, bytes: number, seed = 0): void {
  const fd = openSync(path, 'w');
  try {
    const chunkBlocks = 256;
    const chunk = new Uint8Array(chunkBlocks * PAGE_SIZE);
    const blocks = Math.ceil(bytes / PAGE_SIZE);
    for (let first = 0; first < blocks; first += chunkBlocks) {
      const n = Math.min(chunkBlocks, blocks - first);
      for (let i = 0; i < n; i++) fillFreshBlock(first + i, seed, chunk, i * PAGE_SIZE);
      writeSync(fd, chunk, 0, n * PAGE_SIZE, first * PAGE_SIZE);
    }
  } finally {
    closeSync(fd);
  }
}
