/**
 * Baseline sender: `node baseline-sender.js HOST:PORT IMAGE`. Loads the whole image into memory first, then
 * connects and writes it as it is, with backpressure, and closes. No framing, no encoding, no checksums.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { readImageSlots } from './images.js';

/** Bytes handed to one socket.write. */
const WRITE_BYTES = 4 * 1024 * 1024;

const [target, imagePath] = process.argv.slice(2);
const match = target === undefined ? null : /^(.+):(\d+)$/.exec(target);
if (!match || imagePath === undefined) {
  process.stderr.write('usage: baseline-sender HOST:PORT IMAGE\n');
  process.exit(2);
}

const slots = await readImageSlots(imagePath);
const socket = connect({ host: match[1]!, port: Number(match[2]) });
socket.setNoDelay(true);
await once(socket, 'connect');
for (const slot of slots) {
  for (let at = 0; at < slot.length; at += WRITE_BYTES) {
    if (!socket.write(slot.subarray(at, Math.min(slot.length, at + WRITE_BYTES)))) await once(socket, 'drain');
  }
}
socket.end();
// The receiver closes once it has every byte; an error after that (EPIPE, ECONNRESET) is not a failure.
socket.on('error', () => undefined);
await once(socket, 'close');
