import { describe, expect, it } from 'vitest';
import { InternalError, PeerAbortError } from '@livemig/protocol';
// Not exported from the package index: import the built module directly (npm run build first).
import { ChannelSenders } from '../dist/channel-senders.js';

describe("a channel thread's own failure is reported as ours, never as the peer's", () => {
  it('a round posted before the channel was started fails with LM_ERR_INTERNAL, not LM_ERR_PEER_ABORT', async () => {
    // A real channel worker, with no destination at all: any failure it reports can only be its own.
    const senders = await ChannelSenders.spawn(1);
    try {
      const error = await senders.sendRound(1, new Uint32Array([0])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InternalError);
      expect(error).not.toBeInstanceOf(PeerAbortError);
      expect(error).toMatchObject({ code: 'LM_ERR_INTERNAL', message: 'round command before start' });
    } finally {
      senders.terminate();
    }
  });
});
