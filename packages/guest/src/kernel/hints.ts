import { followBalloonTarget } from './balloon.js';
import { PageState, Sb } from './layout.js';
import type { GuestKernel } from './kernel.js';

/** How a kernel answers the host (workload parameters; the dishonest settings exist to test the host). */
export interface HintBehaviour {
  /** Publish the hint this often (ms); 0 never publishes (only the pre-suspend interrupt does). */
  intervalMs: number;
  /** Acknowledge the pre-suspend interrupt (false: a guest that never answers). */
  acknowledge: boolean;
  /** Also call anonymous pages soft: a lying guest, whose image arrives corrupt. */
  lie: boolean;
}

function isSoft(state: number, lie: boolean): boolean {
  return state === PageState.FREE || state === PageState.CLEAN || (lie && state === PageState.ANON);
}

/**
 * Publishes the hint: rewrites the bitmap word by word from the page-info table (a word's bits are right for
 * the moment it is stored; pages leaving the soft state clear their bit themselves, see GuestKernel.unhint),
 * then the soft count and time, and last the generation, so a host that sees a new generation sees the
 * bitmap it describes.
 */
export function publishHint(kernel: GuestKernel, now: number, lie: boolean): void {
  const l = kernel.layout;
  let soft = 0;
  for (let w = 0; w < l.bitmapWords; w++) {
    let bits = 0;
    const last = Math.min(32, l.pages - w * 32);
    for (let b = 0; b < last; b++) {
      if (isSoft(kernel.stateOf(w * 32 + b), lie)) {
        bits |= 1 << b;
        soft++;
      }
    }
    if (kernel.words.load(l.hintPage, w) !== bits >>> 0) kernel.words.store(l.hintPage, w, bits);
  }
  kernel.setSb(Sb.HINT_SOFT, soft);
  kernel.setSb(Sb.HINT_AT_LO, now % 2 ** 32);
  kernel.setSb(Sb.HINT_AT_HI, Math.floor(now / 2 ** 32));
  kernel.words.store(0, Sb.HINT_GEN, kernel.sb(Sb.HINT_GEN) + 1);
}

/**
 * Drops the soft state (SonicMigration's pre-suspend handler): every clean cache page leaves the cache
 * index and joins the free list, so after migration nothing points at a page that may not arrive; the
 * blocks are read again from the disk when next used. Free pages need nothing: the free stack is
 * metadata, and a page is filled whole before use.
 */
export function dropSoftState(kernel: GuestKernel): void {
  const l = kernel.layout;
  let dropped = 0;
  for (let page = l.dataPage; page < l.pages; page++) {
    if (kernel.stateOf(page) !== PageState.CLEAN) continue;
    kernel.dropCachePage(page, false);
    kernel.freePage(page);
    dropped++;
  }
  kernel.setSb(Sb.DROPPED, kernel.sb(Sb.DROPPED) + dropped);
}

/**
 * Called before every op: inflates or deflates the balloon towards the host's target, answers a pending pre-suspend
 * interrupt, publishes a hint when one is due.
 */
export function serviceHost(kernel: GuestKernel, behaviour: HintBehaviour): void {
  followBalloonTarget(kernel);
  const request = kernel.words.load(0, Sb.IRQ_REQUEST);
  if (request !== kernel.sb(Sb.IRQ_ACK) && behaviour.acknowledge) {
    dropSoftState(kernel);
    publishHint(kernel, Date.now(), behaviour.lie);
    // The acknowledgement (SonicMigration's hypercall) is stored last: the host then reads the final hint.
    // It returns only once the host releases it, after telling the guest to park, so nothing runs between
    // the final hint and the suspension that could make a page hinted soft hard again.
    kernel.words.store(0, Sb.IRQ_ACK, request);
    kernel.words.waitUntilEqual(0, Sb.IRQ_RELEASE, request);
    return;
  }
  if (behaviour.intervalMs <= 0) return;
  const now = Date.now();
  const last = kernel.sb(Sb.HINT_AT_HI) * 2 ** 32 + kernel.sb(Sb.HINT_AT_LO);
  if (now - last >= behaviour.intervalMs) publishHint(kernel, now, behaviour.lie);
}
