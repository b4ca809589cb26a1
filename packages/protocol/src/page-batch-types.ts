import type { EncodingName } from './constants.js';

/** PageBatchWriter's options, compression and statistics. */
export interface PageBatchWriterOptions {
  /** Payload capacity of one batch; default 256 KiB. */
  maxPayloadBytes?: number;
  /** A delta is used only while it stays within this many bytes (0..4095, 0 = never); default 2048. */
  maxDeltaBytes?: number;
}

/**
 * How compressible pages are sent: as they are (`none`), or compressed with lz4 or zstd. Zero, same-byte and
 * delta pages are encoded the same way under each.
 */
export type PageCompression = 'none' | 'lz4' | 'zstd';

/** Cumulative per-encoding counts: pages, and entry bytes on the wire (entry header included). */
export interface PageBatchStats {
  pages: Record<EncodingName, number>;
  bytes: Record<EncodingName, number>;
}
