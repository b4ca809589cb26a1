import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { BadArgumentError, isZeroPage } from '@livemig/protocol';

/**
 * Builds guest memory from a raw image file: its bytes become the guest's memory from address 0 (the file's
 * size, rounded up to a page, sets the memory size unless `memoryBytes` is given). Non-zero pages are copied
 * in and marked touched; zero pages stay untouched and known-zero, and will be neither read nor sent.
 * @throws BadArgumentError when the file cannot be read or does not fit in `memoryBytes`
 */
export function loadImageFile(path: string, memoryBytes?: number): GuestMemory {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new BadArgumentError(`--image-file: cannot open ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const fileBytes = fstatSync(fd).size;
    const size = memoryBytes ?? Math.max(PAGE_SIZE, Math.ceil(fileBytes / PAGE_SIZE) * PAGE_SIZE);
    if (fileBytes > size) {
      throw new BadArgumentError(`--image-file: ${path} has ${fileBytes} bytes, more than the guest's ${size}`);
    }
    const memory = GuestMemory.create(size);
    // Read through a scratch buffer and copy only the non-zero pages: zero pages of the image are never
    // touched in guest memory, so a sparse image costs neither resident memory nor first-touch faults.
    const chunk = Buffer.alloc(CHUNK_BYTES);
    for (let position = 0; position < fileBytes; ) {
      const length = Math.min(CHUNK_BYTES, fileBytes - position);
      let read = 0;
      while (read < length) {
        const got = readSync(fd, chunk, read, length - read, position + read);
        if (got === 0) break;
        read += got;
      }
      for (let offset = 0; offset < read; offset += PAGE_SIZE) {
        const pageBytes = Math.min(PAGE_SIZE, read - offset);
        const bytes = chunk.subarray(offset, offset + pageBytes);
        if (isZeroPage(pageBytes === PAGE_SIZE ? bytes : padded(bytes))) continue;
        const index = (position + offset) / PAGE_SIZE;
        memory.page(index).set(bytes);
        memory.markTouched(index);
      }
      if (read === 0) break;
      position += read;
    }
    return memory;
  } finally {
    closeSync(fd);
  }
}

/** Read 16 MiB at a time (a multiple of the page size). */
const CHUNK_BYTES = 16 * 1024 * 1024;

/** The last, partial page of a file, zero-padded to a whole page for the zero check. */
function padded(bytes: Uint8Array): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  page.set(bytes);
  return page;
}
