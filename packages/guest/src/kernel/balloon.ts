import { PageState, Sb } from './layout.js';
import type { GuestKernel } from './kernel.js';

/**
 * Self-ballooning (Hines and Gopalan): the kernel gives free pages back to the host, which then neither
 * reads nor sends them. The free stack holds the balloon at its bottom: entries [0, BALLOON_PAGES) are
 * ballooned, [BALLOON_PAGES, FREE_COUNT) free, so allocation pops free pages first and, when only
 * ballooned ones are left, takes the top one back (deflate). A page's balloon bit is set after it is in
 * the balloon and cleared before it is taken back, so the host never skips a page the guest may write.
 */

/**
 * Moves the balloon towards the host's target (BALLOON_TARGET pages): inflates with free pages, or, when the
 * host lowered the target (a migration that failed or was cancelled), deflates by handing pages back to the
 * free list. Either way the generation is stored last: a host that sees the new generation sees the bits.
 */
export function followBalloonTarget(kernel: GuestKernel): void {
  const l = kernel.layout;
  const target = kernel.words.load(0, Sb.BALLOON_TARGET);
  const ballooned = kernel.sb(Sb.BALLOON_PAGES);
  const free = kernel.sb(Sb.FREE_COUNT);
  const goal = Math.min(target, free);
  if (goal === ballooned) return;
  if (goal < ballooned) {
    for (let i = ballooned - 1; i >= goal; i--) takeBack(kernel, kernel.words.get(l.freeStackPage, i));
  } else {
    for (let i = ballooned; i < goal; i++) {
      const page = kernel.words.get(l.freeStackPage, i);
      kernel.setInfo(page, PageState.BALLOON);
      kernel.words.store(l.balloonPage, page >>> 5, kernel.words.load(l.balloonPage, page >>> 5) | (1 << (page & 31)));
    }
  }
  kernel.setSb(Sb.BALLOON_PAGES, goal);
  kernel.words.store(0, Sb.BALLOON_GEN, kernel.sb(Sb.BALLOON_GEN) + 1);
}

/** A ballooned page back to the free list: its bit cleared first, so the host never skips a page the guest may write. */
function takeBack(kernel: GuestKernel, page: number): void {
  kernel.words.clearBits(kernel.layout.balloonPage, page >>> 5, 1 << (page & 31));
  kernel.setInfo(page, PageState.FREE);
}

/** Takes the top ballooned page back (its bit cleared first), when no free page is left outside the balloon. */
export function deflateOne(kernel: GuestKernel): void {
  const l = kernel.layout;
  const ballooned = kernel.sb(Sb.BALLOON_PAGES);
  if (ballooned === 0 || kernel.sb(Sb.FREE_COUNT) > ballooned) return;
  takeBack(kernel, kernel.words.get(l.freeStackPage, ballooned - 1));
  kernel.setSb(Sb.BALLOON_PAGES, ballooned - 1);
}
