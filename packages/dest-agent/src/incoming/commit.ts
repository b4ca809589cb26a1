import { DigestMismatchError, TimeoutError, encodeCommitted, type PageChecksums } from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { ReceivedState } from './receive.js';

export interface CommitOptions {
  channels: ChannelReceivers;
  checksums: PageChecksums;
  /** How long the channels may take to apply the last round once Complete has arrived. */
  idleTimeoutMs: number;
}

/**
 * Commitment: waits until every channel has applied the last round Complete names, checks the rebuilt image's
 * digest against the source's and sends Committed. Resolves with the digest verified. Once Committed is sent
 * the destination owns the guest: nothing after this may hand it back to the source.
 * @throws TimeoutError when the channels do not finish the last round in time; a channel's error;
 *   DigestMismatchError when the images differ; the connection's error when Committed cannot be sent.
 */
export async function commit(conn: FramedSocket, received: ReceivedState, options: CommitOptions): Promise<string> {
  // Every channel must have applied the final round before the image can be checked.
  await withTimeout(options.channels.untilRound(received.complete.rounds), options.idleTimeoutMs, 'the last round on every data channel');
  const receivedDigest = options.checksums.digest(received.cpuState);
  if (receivedDigest !== received.complete.digest) {
    throw new DigestMismatchError(`rebuilt image digest ${receivedDigest} differs from the source's ${received.complete.digest}`);
  }
  // Commit point: from here the destination owns the guest.
  await conn.send(encodeCommitted({ digest: receivedDigest, proof: options.checksums.proof(received.complete.nonce, received.cpuState) }));
  return receivedDigest;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
