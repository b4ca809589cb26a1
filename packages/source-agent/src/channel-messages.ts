import type { SharedMemoryHandles } from '@livemig/guest';
import type { TransportSecurity } from '@livemig/agent-runtime/transport';
import type { BatchCounts, CompressMode } from './compression-choice.js';

/**
 * A batch is sent once it holds this many pages (a run of up to MAX_RUN_PAGES may take it past that by 15),
 * however small its frame. Pages that encode to a few bytes (zero-filled but for a counter, deltas) would
 * otherwise fill a whole channel's share of the final round into one frame, and the destination could start
 * on none of it until the source had encoded all of it. Smaller batches let the two sides overlap; each costs
 * only a frame header, its CRC seal and one write.
 */
export const MAX_BATCH_PAGES = 1024;

/** Per-encoding counters as the page batch writer keeps them (pages, and entry bytes on the wire). */
export interface EncodingStats {
  pages: Record<string, number>;
  bytes: Record<string, number>;
}

export interface SenderWorkerData {
  memory: SharedMemoryHandles;
  checksums: SharedArrayBuffer;
  host: string;
  port: number;
  reservationId: string;
  channel: number;
  deltaCacheBytes: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  security: TransportSecurity;
  /** The migration's SharedRateLimiter buffer (--max-bandwidth), shared by every channel. */
  rateLimit?: SharedArrayBuffer;
  /** The destination reads Lz4Run entries (it agreed to CAPABILITY_LZ4_RUNS). */
  lz4Runs: boolean;
  /** --compress. */
  compress: CompressMode;
  /** The destination reads ZstdRun entries (it agreed to CAPABILITY_ZSTD_RUNS). */
  zstdRuns: boolean;
  /** Send PageBatchDirect frames (the destination agreed to CAPABILITY_DIRECT_PAGES). */
  directPages: boolean;
  /** Sparse runs where deltas would go in pre-copy rounds too: the destination acknowledges rounds (round-ack-v1). */
  sparseRunsInPreCopy: boolean;
}

/**
 * Main thread -> sender worker. Workers are spawned ahead of a migration and wait for `start` (connect and send
 * ChannelHello), which is followed by rounds and then `finish`; `pages` is a view over a SharedArrayBuffer:
 * this channel's share of a round; `final` marks stop-and-copy; `push` sends the pages as post-copy's push
 * (page batches with no RoundBegin or RoundEnd, never as deltas).
 */
export type SenderCommand =
  | { type: 'start'; data: SenderWorkerData }
  | { type: 'round'; round: number; pages: Uint32Array; final: boolean; push?: boolean }
  | { type: 'finish' };

/**
 * Sender worker -> main thread. `opened`: connected and ChannelHello sent, `at` that moment in milliseconds
 * since the epoch (performance.timeOrigin + performance.now(): comparable between threads).
 */
export type SenderEvent =
  | { type: 'online' }
  | { type: 'opened'; at: number }
  | { type: 'progress'; round: number; pages: number; bytes: number }
  | {
      type: 'round-done';
      round: number;
      pages: number;
      bytes: number;
      stats: EncodingStats;
      deltaHits: number;
      batches: BatchCounts;
      /** The round's time on this thread less its waits to send: reading, encoding and framing its pages. */
      busyMs: number;
    }
  | { type: 'error'; code: string; message: string }
  | { type: 'finished' };
