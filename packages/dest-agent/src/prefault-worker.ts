/**
 * Pre-faults guest memory off the main thread: allocates one SharedArrayBuffer per size in `workerData` and
 * writes a zero into every 4 KiB page of it, so the kernel maps each page now rather than on the first write of
 * a received page. Writing zero keeps the buffers all zero. Posts the buffers back and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';

const PAGE_SIZE = 4096;
const sizes = workerData as number[];
const slots = sizes.map((bytes) => {
  const slot = new SharedArrayBuffer(bytes);
  const view = new Uint8Array(slot);
  for (let at = 0; at < bytes; at += PAGE_SIZE) view[at] = 0;
  return slot;
});
parentPort!.postMessage(slots);
