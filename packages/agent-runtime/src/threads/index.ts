/**
 * One way to spawn and pool worker threads on both sides: threads handed out ready (ReadyThread, spawnThreads),
 * a warm pool of them (ThreadPool), and a migration's set of data-channel threads built on either
 * (ChannelThreads). For the main threads: worker threads import none of this.
 */
export { ChannelThreads } from './channel-threads.js';
export { ReadyThread, spawnThreads } from './ready-thread.js';
export { ThreadPool } from './thread-pool.js';
