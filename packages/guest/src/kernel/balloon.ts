import { PageState, Sb } from './layout.js';
import type { GuestKernel } from './kernel.js';

/**
 * Self-ballooning (Hines and Gopalan): the kernel gives free pages back to the host, which then neither
 * reads nor sends them. The free stack holds the balloon at its bottom: entries [0, BALLOON_PAGES) are
 * ballooned, [BALLOON_PAGES, FREE_COUNT) free, so allocation pops free pages first and, when only
 * ballooned ones are left, takes the top one back (deflate). A page's balloon bit is set after it is in
 * the balloon and cleared before it is taken back, so the host never skips a page the guest may write.
 */

/** Inflates towards the host's target (BALLOON_TARGET pages): ballooned pages are free pages given back. */
export function inflateBalloon(kernel: GuestKernel): void {
  const l = kernel.layout;
  const target = kernel.words.load(0, Sb.BALLOON_TARGET);
  const ballooned = kernel.sb(Sb.BALLOON_PAGES);
  const free = kernel.sb(Sb.FREE_COUNT);
  const goal = Math.min(target, free);
  if (goal <= ballooned) return;
  for (let i = ballooned; i < goal; i++) {
    const page = kernel.words.get(l.freeStackPage, i);
    kernel.setInfo(page, PageState.BALLOON);
    kernel.words.store(l.balloonPage, page >>> 5, kernel.words.load(l.balloonPage, page >>> 5) | (1 << (page & 31)));
  }
  kernel.setSb(Sb.BALLOON_PAGES, goal);
  // Stored last: a host that sees the new generation sees the bits.
  kernel.words.store(0, Sb.BALLOON_GEN, kernel.sb(Sb.BALLOON_GEN) + 1);
}

/** Takes the top ballooned page back (its bit cleared first), when no free page is left outside the balloon. */
export function deflateOne(kernel: GuestKernel): void {
  const l = kernel.layout;
  const ballooned = kernel.sb(Sb.BALLOON_PAGES);
  if (ballooned === 0 || kernel.sb(Sb.FREE_COUNT) > ballooned) return;
  const page = kernel.words.get(l.freeStackPage, ballooned - 1);
  kernel.words.clearBits(l.balloonPage, page >>> 5, 1 << (page & 31));
  kernel.setInfo(page, PageState.FREE);
  kernel.setSb(Sb.BALLOON_PAGES, ballooned - 1);
}
