/**
 * One connection of the baseline sender: reads [range.from, range.to) of the image into memory, posts `loaded`,
 * waits for `go`, connects to host:port, writes the bytes with backpressure, closes and posts `sent`.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { ByteRange } from './baseline-ranges.js';

/** Bytes handed to one socket.write. */
const WRITE_BYTES = 4 * 1024 * 1024;

const { host, port, imagePath, range } = workerData as { host: string; port: number; imagePath: string; range: ByteRange };
const share = Buffer.allocUnsafe(range.to - range.from);
const file = await open(imagePath, 'r');
try {
  let filled = 0;
  while (filled < share.length) {
    const { bytesRead } = await file.read(share, filled, share.length - filled, range.from + filled);
    if (bytesRead === 0) throw new Error(`${imagePath}: file ended at ${range.from + filled} bytes`);
    filled += bytesRead;
  }
} finally {
  await file.close();
}
parentPort!.postMessage('loaded');
await once(parentPort!, 'message');

const socket = connect({ host, port });
socket.setNoDelay(true);
await once(socket, 'connect');
for (let at = 0; at < share.length; at += WRITE_BYTES) {
  if (!socket.write(share.subarray(at, Math.min(share.length, at + WRITE_BYTES)))) await once(socket, 'drain');
}
socket.end();
// The receiver closes once it has every byte; an error after that (EPIPE, ECONNRESET) is not a failure.
socket.on('error', () => undefined);
await once(socket, 'close');
parentPort!.postMessage('sent');
