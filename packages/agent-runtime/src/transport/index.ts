/**
 * The transport alone: the framed connection, connect and the connection warm-up. Worker threads (the data
 * channels on either side) import this entry, not the package index: every worker thread holds its own copy of
 * each module it imports, and through the index a channel thread would also load the CLI, the logger, the
 * control API and its metrics, about 7 MiB of resident memory per thread.
 */
export { connectTcp } from './connect.js';
export { sameAddress } from './same-address.js';
export { PLAINTEXT, certificateNames, secureServer, type TransportSecurity } from './transport-security.js';
// A channel thread posts its failure as errorSummary's code and message; its main thread rebuilds the error.
export { errorSummary } from '../error-summary.js';
export { DEFAULT_IDLE_TIMEOUT_MS, FramedSocket, type FramedSocketOptions } from './framed-socket.js';
/** A data-channel thread reports the open round's progress to its main thread at most this often (both sides). */
export const CHANNEL_PROGRESS_INTERVAL_MS = 50;
export { warmUpConnections } from './warm-up-connections.js';
export { channelTestFault, strikeChannelTestFault, type ChannelTestFault } from './channel-test-fault.js';
export { markStep } from './step-timeline.js';
