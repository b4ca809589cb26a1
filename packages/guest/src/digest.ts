import { createHash } from 'node:crypto';
import { PAGE_SIZE } from './constants.js';
import type { GuestMemory } from './memory.js';
import type { CpuState } from './registers.js';

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/**
 * Canonical image digest (hex sha256): u32le pageCount; then, ascending, (u32le index, 4096 bytes) for each
 * page whose content is non-zero; then each register file. Pages neither touched nor dirty are known zero
 * and never read, so a sparse 6 GiB guest digests in the time of its written pages. Zero pages are left
 * out, so equal contents give equal digests whatever the touched maps say.
 */
export function digestGuest(memory: GuestMemory, cpuState: CpuState): string {
  const hash = createHash('sha256');
  const word = Buffer.alloc(4);
  word.writeUInt32LE(memory.pageCount);
  hash.update(word);
  for (const index of memory.writtenPages()) {
    const page = memory.page(index);
    const bytes = Buffer.from(page.buffer, page.byteOffset, PAGE_SIZE);
    if (bytes.equals(ZERO_PAGE)) continue;
    word.writeUInt32LE(index);
    hash.update(word);
    hash.update(bytes);
  }
  for (const file of cpuState) hash.update(file);
  return hash.digest('hex');
}
