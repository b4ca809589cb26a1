import { setTimeout as sleep } from 'node:timers/promises';
import { GuestError, HintArea, type Guest } from '@livemig/guest';
import type { Logger } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { DirectSends } from './direct-sends.js';

/** What `--balloon` did, in the report (`balloon`). */
export interface BalloonReport {
  /** Inflation asked for at the start to every vCPU's first inflation (ms); null when not every vCPU inflated in time. */
  inflateMs: number | null;
  /** Page sends skipped because the page was in the balloon, over every round (never read, never sent). */
  pagesSkippedBallooned: number;
  /** Pages in the balloon when the guest was parked. */
  pagesBallooned: number;
  /** Balloon areas refused as malformed (LM_ERR_BAD_HINT): their vCPU's pages were all judged in use. */
  areasRejected: number;
}

const POLL_MS = 1;
/** A balloon target that asks for every free page. */
const ALL_FREE_PAGES = 0xffffffff;

/**
 * Self-ballooning (Hines and Gopalan) on the source: at the start the guest kernel is asked to give all its
 * free pages back; each round then skips the pages in the balloon. The guest clears a page's balloon bit
 * before it takes the page back and writes it, so a bit read after a harvest never hides a write. A
 * ballooned page's content means nothing to the guest (it fills a page whole before use): it is neither
 * read nor sent, and at the destination it is zero (or what an earlier round sent before it was ballooned);
 * except a page an earlier round may have sent directly (`directSends`), which is sent whenever it is dirty:
 * see DirectSends.
 */
export class BalloonFilter {
  readonly report: BalloonReport = { inflateMs: null, pagesSkippedBallooned: 0, pagesBallooned: 0, areasRejected: 0 };
  readonly #area: HintArea;

  constructor(
    readonly guest: Guest,
    private readonly log: Logger,
    private readonly directSends?: DirectSends,
  ) {
    this.#area = new HintArea(guest.memory, guest.workload, guest.vcpuCount);
  }

  /** Asks for every free page and waits (at most `timeoutMs`; not for a guest already still) for each vCPU to inflate. */
  async inflate(timeoutMs: number): Promise<void> {
    const vcpus = Array.from({ length: this.#area.vcpus }, (_, vcpu) => vcpu);
    const before = vcpus.map((vcpu) => this.#area.balloonGeneration(vcpu));
    this.#area.setBalloonTarget(ALL_FREE_PAGES);
    const asked = performance.now();
    const all = (): boolean => vcpus.every((vcpu) => this.#area.balloonGeneration(vcpu) !== before[vcpu]);
    while (!all() && !this.guest.parked && performance.now() - asked < timeoutMs) await sleep(POLL_MS);
    if (all()) this.report.inflateMs = roundTenth(performance.now() - asked);
  }

  /**
   * Gives the guest its pages back (target 0): for a migration that failed or was cancelled, so the guest
   * is left as it was before it. Each vCPU's kernel deflates at its next op.
   */
  deflate(): void {
    this.#area.setBalloonTarget(0);
  }

  /** Each vCPU whose balloon area checks out; a refused one counts and its pages are all sent. */
  #trusted(): boolean[] {
    return Array.from({ length: this.#area.vcpus }, (_, vcpu) => {
      try {
        this.#area.ballooned(vcpu);
        return true;
      } catch (error) {
        if (!(error instanceof GuestError)) throw error;
        this.report.areasRejected++;
        this.log.warn({ code: error.code, vcpu }, error.message);
        return false;
      }
    });
  }

  /** A round's pages less the ballooned ones; with `final`, also records the balloon's size. */
  filter(pages: Uint32Array, final = false): Uint32Array {
    const trusted = this.#trusted();
    const kept = new Uint32Array(pages.length);
    let n = 0;
    for (const page of pages) {
      const vcpu = this.#area.vcpuOf(page);
      if (trusted[vcpu] && this.#area.isBallooned(vcpu, page) && this.directSends?.mustResend(page) !== true) this.report.pagesSkippedBallooned++;
      else kept[n++] = page;
    }
    if (final) {
      this.report.pagesBallooned = trusted.reduce((sum, ok, vcpu) => sum + (ok ? this.#area.ballooned(vcpu) : 0), 0);
    }
    return kept.subarray(0, n);
  }
}
