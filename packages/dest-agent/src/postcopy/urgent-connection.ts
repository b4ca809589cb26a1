import type { AddressInfo, Server } from 'node:net';
import { listenAnyPort } from './listen-any-port.js';
import type { GuestMemory, PresentMap } from '@livemig/guest';
import {
  FrameType,
  HandshakeError,
  MAX_REQUEST_PAGES,
  UnexpectedFrameError,
  encodePageRequest,
  frameTypeName,
  readPageBatch,
  requirePlainBatch,
  type PageChecksums,
} from '@livemig/protocol';
import { FramedSocket, sameAddress, secureServer, type TransportSecurity } from '@livemig/agent-runtime';
import type { FaultRequests } from './fault-requests.js';
import { PlacingSink } from './placing-sink.js';

/** How long the fault loop sleeps on the doorbell before it looks again (a fault rings it at once). */
const FAULT_WAIT_MS = 100;

export interface UrgentListenOptions {
  host: string;
  reservationId: string;
  idleTimeoutMs: number;
  /** The agent's credentials: the source authenticates here as on the main port. */
  security: TransportSecurity;
  /** The source's control connection's address: connections from anywhere else are dropped at once. */
  sourceAddress: string;
}

/**
 * The destination's end of post-copy's urgent connection: a port of its own, given in Accept, where the source
 * connects and opens with UrgentHello. On this agent's main thread, which decodes no bulk pages (the data
 * channels' threads do), so a request and its answer never wait behind the push: the part QEMU's preempt
 * channel and thread play.
 */
export class UrgentListener {
  readonly port: number;
  readonly #server: Server;
  readonly #connection: Promise<FramedSocket>;
  #timer: NodeJS.Timeout | undefined;

  private constructor(server: Server, options: UrgentListenOptions) {
    const { reservationId, idleTimeoutMs } = options;
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
    this.#connection = new Promise((resolve, reject) => {
      this.#timer = setTimeout(() => reject(new HandshakeError(`the source did not open the urgent connection within ${idleTimeoutMs} ms`)), idleTimeoutMs);
      server.on('connection', (raw) => {
        // Like the data ports: only the source's address, and only after TLS authenticated it.
        if (!sameAddress(raw.remoteAddress, options.sourceAddress)) {
          raw.destroy();
          return;
        }
        secureServer(raw, options.security, idleTimeoutMs)
          .then((socket) => {
            const conn = new FramedSocket(socket);
            return conn.receive(idleTimeoutMs, 'UrgentHello').then(
              (frame) => {
                if (frame.type !== FrameType.UrgentHello || frame.message.reservationId !== reservationId) {
                  conn.abort(new HandshakeError("the urgent connection was not opened with this reservation's UrgentHello"));
                  return;
                }
                clearTimeout(this.#timer);
                server.close();
                conn.keepAliveWhileSilent();
                resolve(conn);
              },
              () => conn.destroy(),
            );
          })
          .catch(() => raw.destroy());
      });
    });
    this.#connection.catch(() => {});
  }

  /** Listens on `host`, port 0 (any free port). */
  static async listen(options: UrgentListenOptions): Promise<UrgentListener> {
    return new UrgentListener(await listenAnyPort(options.host, 4), options);
  }

  /** The urgent connection, once the source opened it. @throws HandshakeError when it never does */
  connection(): Promise<FramedSocket> {
    return this.#connection;
  }

  /** Stops listening (a hybrid migration that ended in stop-and-copy, or the end of post-copy). */
  close(): void {
    clearTimeout(this.#timer);
    this.#server.close();
  }
}

/**
 * Serves the guest's faults over the urgent connection: each new fault becomes a PageRequest (each page asked
 * once: FaultRequests), and the answering page batches are placed only if absent (PlacingSink).
 */
export class FaultService {
  readonly #conn: FramedSocket;
  readonly #map: PresentMap;
  readonly #requests: FaultRequests;
  readonly #sink: PlacingSink;
  #stopped = false;

  /** `requests`: the migration's, kept across recoveries; its outstanding pages are asked again first. */
  constructor(conn: FramedSocket, memory: GuestMemory, map: PresentMap, checksums: PageChecksums, requests: FaultRequests) {
    this.#conn = conn;
    this.#map = map;
    this.#requests = requests;
    this.#sink = new PlacingSink(memory, map, (index, crc) => checksums.record(index, crc));
  }

  get pagesRequested(): number {
    return this.#requests.pagesRequested;
  }

  get pagesPlaced(): number {
    return this.#sink.placements.placed;
  }

  /** Asks for faulted pages and places the answers until stop(). @throws the connection's or a decode error */
  async run(): Promise<void> {
    await Promise.all([this.#ask(), this.#place()]);
  }

  async #ask(): Promise<void> {
    // After a recovery: the requests whose answers were lost with the old connection (none on the first one).
    let again = this.#requests.outstanding();
    while (!this.#stopped && !this.#map.complete) {
      const seen = this.#map.doorbell();
      const pages = [...again, ...this.#requests.collect()];
      again = [];
      for (let at = 0; at < pages.length; at += MAX_REQUEST_PAGES) {
        await this.#conn.send(encodePageRequest({ pages: Uint32Array.from(pages.slice(at, at + MAX_REQUEST_PAGES)) }));
      }
      if (pages.length === 0) await this.#map.waitForFault(seen, FAULT_WAIT_MS);
    }
  }

  async #place(): Promise<void> {
    while (!this.#stopped && !this.#map.complete) {
      let frame;
      try {
        frame = await this.#conn.receive(undefined, 'requested pages');
      } catch (error) {
        if (this.#stopped || this.#map.complete) return;
        throw error;
      }
      if (frame.type !== FrameType.PageBatch) throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the urgent connection`);
      requirePlainBatch(frame, 'on the urgent connection');
      readPageBatch(frame.payload, this.#sink, this.#sink.onPage, frame.rawPageCrcs);
      this.#conn.release(frame);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#conn.close();
  }
}
