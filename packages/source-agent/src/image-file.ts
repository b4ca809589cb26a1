import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { isZeroPage } from '@livemig/protocol';
import { BadArgumentError } from '@livemig/protocol';

/**
 * Builds guest memory from a raw image file: its bytes become the guest's memory from address 0 (the file's
 * size, rounded up to a page, sets the memory size unless `memoryBytes` is given). Non-zero pages are marked
 * touched; zero pages stay known-zero and will be neither read nor sent.
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
    let position = 0;
    for (const slot of memory.slots) {
      // Read a slot in 16 MiB pieces: readSync takes at most 2 GiB at once.
      for (let offset = 0; offset < slot.length && position < fileBytes; ) {
        const length = Math.min(16 * 1024 * 1024, slot.length - offset, fileBytes - position);
        const read = readSync(fd, slot, offset, length, position);
        if (read === 0) break;
        offset += read;
        position += read;
      }
    }
    const filePages = Math.ceil(fileBytes / PAGE_SIZE);
    for (let index = 0; index < filePages; index++) {
      if (!isZeroPage(memory.page(index))) memory.markTouched(index);
    }
    return memory;
  } finally {
    closeSync(fd);
  }
}
