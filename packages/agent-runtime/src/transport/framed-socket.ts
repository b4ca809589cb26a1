import type { Socket } from 'node:net';
import {
  FrameDecoder,
  FrameType,
  INTERNAL_ERROR_CODE,
  PeerClosedError,
  TimeoutError,
  encodeAbort,
  errorFromCode,
  type Frame,
  type PageBatchSlotSink,
  MigrationError,
} from '@livemig/protocol';
import { readIntoOwnBuffers } from './owned-reads.js';
import { isTlsError, tlsFailure } from './transport-security.js';

/** A peer silent this long fails the connection (LM_ERR_TIMEOUT); also how long a peer gets to answer. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** Idle time before the first TCP keep-alive probe on a connection kept open while silent. */
const KEEP_ALIVE_DELAY_MS = 5_000;

export interface FramedSocketOptions {
  /** Largest frame payload accepted from the peer; checked before anything is buffered for it. */
  maxPayloadBytes?: number;
  /** The connection fails with LM_ERR_TIMEOUT after this long with no byte read or written. */
  idleTimeoutMs?: number;
  /** send() waits for the kernel to drain once this many bytes are queued in user space. */
  maxQueuedBytes?: number;
  /**
   * For a plain TCP socket a server accepted with `pauseOnConnect`, unread: the kernel reads each frame straight
   * into the decoder's own buffers (owned-reads.ts), with no 'data' chunks to allocate and reassemble.
   * `socket` is then the Socket that took over the accepted one's handle.
   */
  readIntoOwnBuffers?: boolean;
}

/**
 * A TCP connection that speaks frames. Incoming bytes go through one FrameDecoder; complete frames wait in a
 * queue for receive(). The first failure (decode error, peer Abort, close, socket error, idle timeout) is
 * sticky: every later send() and receive() rejects with it, after the frames that arrived before it.
 */
export class FramedSocket {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly frames: Frame[] = [];
  private readonly maxQueuedBytes: number;
  private failure: Error | undefined;
  /** An Abort from the peer: send() fails at once with it, receive() after the frames queued before it. */
  private peerAbort: Error | undefined;
  private waiter: { resolve: (frame: Frame) => void; reject: (error: Error) => void } | undefined;
  private drainWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** ended()'s waiters: told once the connection has ended, by a failure or the peer's Abort. */
  private readonly endWaiters: (() => void)[] = [];
  bytesSent = 0;
  bytesReceived = 0;

  constructor(accepted: Socket, options: FramedSocketOptions = {}) {
    const decoder = new FrameDecoder(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes });
    this.decoder = decoder;
    // Reads start on a later turn of the event loop, once this constructor has returned.
    const socket = options.readIntoOwnBuffers ? readIntoOwnBuffers(accepted, () => decoder.readTarget(), (bytes) => this.onRead(bytes)) : accepted;
    this.socket = socket;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    socket.setNoDelay(true);
    if (options.idleTimeoutMs) socket.setTimeout(options.idleTimeoutMs);
    if (!options.readIntoOwnBuffers) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      try {
        this.decoder.end();
        this.fail(new PeerClosedError('peer closed the connection'));
      } catch (error) {
        this.fail(asError(error));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      // A TLS alert after the handshake (TLS 1.3 rejects a client certificate after the client is done) is an
      // authentication failure, not a broken connection.
      this.fail(isTlsError(error) ? tlsFailure(error, this.remote) : new PeerClosedError(`connection failed: ${error.message}`, { cause: error })),
    );
    socket.on('close', () => {
      this.fail(new PeerClosedError('connection closed'));
      // Frames already queued keep their own bytes; a partial frame's buffer is let go now.
      this.decoder.dispose();
    });
    socket.on('timeout', () => {
      this.fail(new TimeoutError(`no traffic from peer for ${options.idleTimeoutMs} ms`));
      socket.destroy();
    });
    socket.on('drain', () => {
      const waiter = this.drainWaiter;
      this.drainWaiter = undefined;
      waiter?.resolve();
    });
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** The error that ended this connection, if any. */
  get error(): Error | undefined {
    return this.peerAbort ?? this.failure;
  }

  /**
   * Resolves once this connection has ended (a failure, a close or the peer's Abort) or after `withinMs`,
   * whichever comes first, with the error that ended it (undefined if it had not ended by then). The frames
   * arriving meanwhile are read as always: an Abort among them sets `peerAborted`.
   */
  ended(withinMs: number): Promise<Error | undefined> {
    if (this.error) return Promise.resolve(this.error);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.error);
      };
      const timer = setTimeout(() => {
        const at = this.endWaiters.indexOf(done);
        if (at >= 0) this.endWaiters.splice(at, 1);
        resolve(this.error);
      }, withinMs);
      this.endWaiters.push(done);
    });
  }

  /** Whether the peer sent Abort (rather than the connection failing or closing). */
  get peerAborted(): boolean {
    return this.peerAbort !== undefined;
  }

  /** Queues one encoded frame; resolves at once unless too much is queued, then when the kernel drained it. */
  async send(frame: Buffer): Promise<void> {
    const error = this.peerAbort ?? this.failure;
    if (error) throw error;
    this.socket.write(frame);
    this.bytesSent += frame.length;
    await this.drained();
  }

  /**
   * Queues one frame given in parts (a PageBatchDirect: its head, then views of guest memory), as one gathered
   * write (cork, then one writev). The parts are not copied: the kernel reads them when it sends them, so they
   * must stay readable until then. Resolves as `send` does.
   */
  async sendGathered(parts: readonly Buffer[]): Promise<void> {
    const error = this.peerAbort ?? this.failure;
    if (error) throw error;
    this.socket.cork();
    for (const part of parts) {
      this.socket.write(part);
      this.bytesSent += part.length;
    }
    this.socket.uncork();
    await this.drained();
  }

  private async drained(): Promise<void> {
    if (this.socket.writableLength > this.maxQueuedBytes) {
      await new Promise<void>((resolve, reject) => {
        this.drainWaiter = { resolve, reject };
      });
    }
  }

  /** The next frame from the peer. An Abort frame rejects with the typed error it carries. */
  receive(timeoutMs?: number, waitingFor = 'a frame'): Promise<Frame> {
    const next = this.frames.shift();
    if (next) return next.type === FrameType.Abort ? Promise.reject(this.peerAbort!) : Promise.resolve(next);
    const error = this.peerAbort ?? this.failure;
    if (error) return Promise.reject(error);
    return new Promise<Frame>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new TimeoutError(`no answer from peer within ${timeoutMs} ms while waiting for ${waitingFor}`));
        }, timeoutMs);
      }
      this.waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (reason) => {
          clearTimeout(timer);
          reject(reason);
        },
      };
    });
  }

  /**
   * With `readIntoOwnBuffers`: reads the raw pages of PageBatchDirect frames in pre-copy rounds straight into
   * `sink`, guest memory (see FrameDecoder.placeRawPagesIn). Such frames come with `rawPlaced`; apply them with
   * readPageBatch into the same memory and release them, or nothing more is placed.
   */
  placeRawPagesIn(sink: PageBatchSlotSink): void {
    this.decoder.placeRawPagesIn(sink);
  }

  /** Hands a received frame back once its payload is no longer used (see FrameDecoder.release). */
  release(frame: Frame): void {
    this.decoder.release(frame);
  }

  /**
   * Best effort: tells the peer why we give up, then closes. Never throws. A connection that has already failed
   * tells nothing, unless `error` is that failure and `tellAfterFailure` is set: for a peer whose first frame
   * did not decode (an old or confused peer learns why instead of seeing the connection drop).
   */
  abort(error: Error, options: { tellAfterFailure?: boolean } = {}): void {
    const told = !this.failure || (options.tellAfterFailure === true && this.failure === error);
    if (!this.socket.destroyed && this.socket.writable && told) {
      const code = error instanceof MigrationError ? error.code : INTERNAL_ERROR_CODE;
      try {
        this.socket.end(encodeAbort({ code, message: error.message.slice(0, 1000) }));
      } catch {
        // the socket may already be half-closed; destroying below is enough
      }
    }
    this.fail(error);
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /**
   * For a control connection that may stay silent while page data flows on the data channels (which time out
   * on their own): no idle timeout, and TCP keep-alive probes every 5 s so that a dead peer is still noticed.
   */
  keepAliveWhileSilent(): void {
    this.socket.setTimeout(0);
    this.socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
  }

  /** Graceful close after everything queued was written. */
  close(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (!this.take(() => this.decoder.push(chunk))) this.socket.pause();
  }

  /** `bytes` were read into the decoder's read target; false stops reading (the connection failed). */
  private onRead(bytes: number): boolean {
    this.bytesReceived += bytes;
    return this.take(() => this.decoder.commitRead(bytes));
  }

  /** Delivers the frames `decode` completes; false when the bytes failed to decode (the connection has failed). */
  private take(decode: () => Frame[]): boolean {
    let frames: Frame[];
    try {
      frames = decode();
    } catch (error) {
      // A decode error is fatal to the connection: never try to resynchronise.
      this.fail(asError(error));
      return false;
    }
    for (const frame of frames) {
      if (frame.type === FrameType.Abort) {
        const error = errorFromCode(frame.message.code, `peer aborted: ${frame.message.message}`);
        this.peerAbort ??= error;
        this.drainWaiter?.reject(error);
        this.drainWaiter = undefined;
        this.tellEnded();
      }
      this.deliver(frame);
    }
    // Bad bytes after good frames in this chunk: those were delivered first, now the connection fails.
    if (this.decoder.error !== undefined) {
      this.fail(asError(this.decoder.error));
      return false;
    }
    return true;
  }

  private deliver(frame: Frame): void {
    const waiter = this.waiter;
    if (waiter && this.frames.length === 0) {
      this.waiter = undefined;
      if (frame.type === FrameType.Abort) waiter.reject(this.peerAbort!);
      else waiter.resolve(frame);
      return;
    }
    this.frames.push(frame);
  }

  private tellEnded(): void {
    for (const waiter of this.endWaiters.splice(0)) waiter();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.tellEnded();
    const waiter = this.waiter;
    if (waiter && this.frames.length === 0) {
      this.waiter = undefined;
      waiter.reject(this.peerAbort ?? this.failure);
    }
    const drain = this.drainWaiter;
    this.drainWaiter = undefined;
    drain?.reject(this.peerAbort ?? this.failure);
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
