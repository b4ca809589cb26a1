/**
 * Pre-faults guest memory off the main thread. `workerData.sizes`: allocates one SharedArrayBuffer per size and
 * writes a zero into every 4 KiB page of it, so the kernel maps each page now rather than on the first write of
 * a received page (writing zero keeps the buffers all zero). `workerData.slots`: zeroes those (a departed guest's
 * memory, already faulted in). Posts every buffer back and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';

const PAGE_SIZE = 4096;
const { sizes = [], slots: reused = [] } = workerData as { sizes?: number[]; slots?: SharedArrayBuffer[] };
const fresh = sizes.map((bytes) => {
  const slot = new SharedArrayBuffer(bytes);
  const view = new Uint8Array(slot);
  for (let at = 0; at < bytes; at += PAGE_SIZE) view[at] = 0;
  return slot;
});
for (const slot of reused) new Uint8Array(slot).fill(0);
parentPort!.postMessage([...fresh, ...reused]);
