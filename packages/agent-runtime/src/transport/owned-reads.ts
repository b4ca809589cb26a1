import { Socket } from 'node:net';

/** The part of a net.Socket this module reaches past the public API for. */
interface AcceptedSocket {
  _handle?: object | null;
}

/**
 * Re-makes a socket a server accepted so that the kernel reads it into buffers the caller owns: each read
 * goes into `target()` (called again after every read, so it may name a different buffer each time) and
 * `onRead(bytes)` is told how many bytes landed there; `onRead` returns false to stop reading. No buffer is
 * allocated per read, unlike a socket's 'data' events (a new 64 KiB buffer per read).
 *
 * Node 20 takes `onread` only where it constructs the Socket (`net.connect`, `new net.Socket`), and a server
 * constructs the sockets it accepts itself. So the accepted socket's libuv handle (`_handle`: not public API,
 * but the handle every Socket wraps since Node 0.x, and the one child_process passes between processes) goes
 * to a new Socket made with `onread`. The accepted one must not have read yet: its server listens with
 * `pauseOnConnect`. It is left holding the handle but is never used again; the new Socket owns it (its
 * close, its errors, its timeouts).
 *
 * Plain TCP only: a TLSSocket made over an existing socket takes no `onread` (it decrypts into a new buffer
 * per TLS record).
 * @throws Error when the socket has no handle or has already read bytes
 */
export function readIntoOwnBuffers(accepted: Socket, target: () => Uint8Array, onRead: (bytes: number) => boolean): Socket {
  const handle = (accepted as unknown as AcceptedSocket)._handle;
  if (!handle || accepted.destroyed) throw new Error('readIntoOwnBuffers: the accepted socket has no handle (closed?)');
  if (accepted.bytesRead > 0 || accepted.readableLength > 0) throw new Error('readIntoOwnBuffers: the accepted socket has already read bytes');
  const options = { handle, onread: { buffer: target, callback: (bytes: number) => onRead(bytes) } };
  return new Socket(options as ConstructorParameters<typeof Socket>[0]);
}
