import { CHANNEL_GROUP_PAGES, MAX_CHANNELS, MAX_PAGE_INDEX } from './constants.js';
import { BadArgumentError } from './errors.js';

/**
 * The data channel that carries page `pageIndex` when a migration uses `channels` channels:
 * `(pageIndex >>> 6) % channels`, i.e. groups of 64 consecutive pages dealt round-robin.
 *
 * Both sides must agree on this rule, and it must be a pure function of the page: every copy of a page then
 * travels on one TCP connection, in the order it was sent. So an older copy can never overtake and overwrite
 * a newer one, and a Delta entry always applies to the copy the destination holds (the one sent just before
 * it). Groups of 64 keep neighbouring pages, which workloads tend to dirty together, in the same batches.
 *
 * @throws BadArgumentError for a page index that is not a u32 or a channel count outside 1..16.
 */
export function channelOfPage(pageIndex: number, channels: number): number {
  if (!Number.isInteger(pageIndex) || pageIndex < 0 || pageIndex > MAX_PAGE_INDEX) {
    throw new BadArgumentError(`page index ${pageIndex} is not a u32`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new BadArgumentError(`channel count ${channels} outside 1..${MAX_CHANNELS}`);
  }
  return Math.floor(pageIndex / CHANNEL_GROUP_PAGES) % channels; // = (pageIndex >>> 6) % channels for a u32
}
