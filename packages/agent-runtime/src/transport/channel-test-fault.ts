import type { Socket } from 'node:net';

/**
 * TEST ONLY: LIVEMIG_TEST_FAIL_CHANNEL=<side>:<how>:<round> (side `source` or `dest`) makes every data-channel
 * thread of that side fail while it handles round <round> (round 0: a destination thread as it is assigned its
 * channel, before the source connects), the way a bug in it would. It lets the tests prove
 * that a channel thread's failure of any kind fails the migration with a typed error and never hangs it.
 * Unset (always, outside the tests) it costs one environment read per thread. `how`:
 * - `throw`: an Error thrown in the round's code (encoding or decoding a batch);
 * - `write`: an Error thrown in a socket write callback (outside any promise chain);
 * - `uncaught`: an Error thrown from a timer (an uncaught exception);
 * - `rejection`: a promise rejected with nobody to catch it;
 * - `exit`: the thread ends itself with exit code 0, mid-round.
 * All but `throw` leave the round stalled forever after: only the thread's end can tell its owner.
 */
export const CHANNEL_FAULTS = ['throw', 'write', 'uncaught', 'rejection', 'exit'] as const;
export type ChannelFault = (typeof CHANNEL_FAULTS)[number];

export interface ChannelTestFault {
  how: ChannelFault;
  round: number;
}

/** The fault LIVEMIG_TEST_FAIL_CHANNEL asks of `side`'s channel threads, if any. */
export function channelTestFault(side: 'source' | 'dest'): ChannelTestFault | undefined {
  const [forSide, how, round] = (process.env.LIVEMIG_TEST_FAIL_CHANNEL ?? '').split(':');
  if (forSide !== side || !CHANNEL_FAULTS.includes(how as ChannelFault)) return undefined;
  return { how: how as ChannelFault, round: Number(round) };
}

/**
 * Strikes `fault` if `round` is its round; `socket` is the channel's connection (`write` needs one). Returns only
 * if it does not. Round 0 is a destination channel's assignment, before any connection.
 */
export async function strikeChannelTestFault(fault: ChannelTestFault | undefined, round: number, socket?: Socket): Promise<void> {
  if (fault?.round !== round) return;
  const error = new Error(`test fault (LIVEMIG_TEST_FAIL_CHANNEL): ${fault.how} in round ${round}`);
  if (fault.how === 'throw') throw error;
  if (fault.how === 'write' && socket) {
    socket.write(Buffer.alloc(0), () => {
      throw error;
    });
  } else if (fault.how === 'uncaught') {
    setImmediate(() => {
      throw error;
    });
  } else if (fault.how === 'rejection') {
    void Promise.reject(error);
  } else {
    process.exit(0);
  }
  await new Promise<never>(() => {});
}
