/**
 * Capability strings: wire vocabulary that Hello offers and Accept agrees to (docs/PROTOCOL.md, "Capabilities").
 * A destination refuses a source that lacks a required one and agrees to an optional one only when offered.
 */

/** Pages in PageBatch frames with the zero, same-byte, lz4, raw and delta encodings. Required. */
export const CAPABILITY_PAGES = 'pages-v1';
/** Page data on one or more data-channel connections (ChannelHello), control on the first connection. Required. */
export const CAPABILITY_CHANNELS = 'channels-v1';
/** The destination reads Lz4Run page batch entries (several consecutive pages in one lz4 block). Optional. */
export const CAPABILITY_LZ4_RUNS = 'lz4-runs-v1';
/** The destination reads ZstdRun page batch entries (1..16 consecutive pages in one zstd frame). Optional. */
export const CAPABILITY_ZSTD_RUNS = 'zstd-runs-v1';
/**
 * The destination reads PageBatchDirect frames (Raw pages after the entries, outside the frame CRC, so that the
 * source writes them from guest memory without copying them) and repairs at commit: on a digest mismatch it
 * asks for the source's page table and for the pages whose CRCs differ (RepairRequest, RepairTable, RepairEnd).
 * Optional.
 */
export const CAPABILITY_DIRECT_PAGES = 'direct-pages-v2';
/**
 * The destination acknowledges each pre-copy round on the control connection once every channel has applied it
 * (RoundAck); the source then keeps at most one round in flight beyond the one it sends. Optional: without it the
 * source sends rounds as fast as its channels take them, as before.
 */
export const CAPABILITY_ROUND_ACK = 'round-ack-v1';

/**
 * The post-copy frames (PostcopyDiscard, PostcopyRun, UrgentHello, PageRequest, PostcopyEnd, PostcopyDone) and
 * Accept.urgentPort. Optional: a source switches to post-copy only with a destination that agreed to it. Not
 * yet in OPTIONAL_CAPABILITIES: an agent offers or agrees to it only once it serves post-copy.
 */
export const CAPABILITY_POSTCOPY = 'postcopy-v1';

/** Every capability a destination needs from its source. */
export const REQUIRED_CAPABILITIES: readonly string[] = [CAPABILITY_PAGES, CAPABILITY_CHANNELS];
/** Capabilities a destination agrees to when the source offers them. */
export const OPTIONAL_CAPABILITIES: readonly string[] = [CAPABILITY_LZ4_RUNS, CAPABILITY_ZSTD_RUNS, CAPABILITY_DIRECT_PAGES, CAPABILITY_ROUND_ACK];
/** Everything this implementation speaks, as a source offers it in Hello. */
export const CAPABILITIES: readonly string[] = [...REQUIRED_CAPABILITIES, ...OPTIONAL_CAPABILITIES];
