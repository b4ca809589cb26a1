/**
 * What a data-channel thread needs from this package, on either side of a migration: the framed connection,
 * the page checksum table and the connection warm-up. Exported on its own (`@livemig/source-agent/channel-thread`) because every worker
 * thread holds its own copy of each module it imports: through the package index, a destination channel thread
 * also loaded the CLI, the logger, the control API and its metrics, about 7 MiB of resident memory per thread.
 */
export { DEFAULT_IDLE_TIMEOUT_MS, FramedSocket, type FramedSocketOptions } from './framed-socket.js';
export { PageChecksums } from './page-checksums.js';
export { warmUpConnections } from './warm-up-connections.js';
