import { ChannelSenders } from './channel-senders.js';

/**
 * One set of channel threads spawned ahead for the next migration started through the control API, as
 * `run --migrate-to` and the destination's warm receivers already do: a thread's start (an isolate, the
 * channel code, the compressors) costs 0.3-0.4 s of CPU per migration on this host (docs/PERFORMANCE.md,
 * "Soft pages and the balloon"), which would otherwise fall inside the migration. The set is handed out once,
 * to a migration asking for as many channels; later ones spawn their own. close() ends an unused set (a live
 * thread keeps the process alive).
 */
export class WarmChannels {
  #set: Promise<ChannelSenders> | undefined;

  constructor(readonly streams: number) {
    this.#set = ChannelSenders.spawn(streams);
    this.#set.catch(() => {});
  }

  /** The warm set for a migration of `streams` channels, once; undefined otherwise (it spawns its own). */
  take(streams: number): Promise<ChannelSenders> | undefined {
    if (streams !== this.streams) return undefined;
    const set = this.#set;
    this.#set = undefined;
    return set;
  }

  close(): void {
    void this.#set?.then((unused) => unused.terminate(), () => {});
    this.#set = undefined;
  }
}
