import { setTimeout as sleep } from 'node:timers/promises';
import { GuestError, HintArea, type Guest, type HintHeader } from '@livemig/guest';
import type { Logger } from '@livemig/agent-runtime';
import { roundTenth } from '../round-tenth.js';
import type { DirectSends } from './direct-sends.js';
import { workloadHasKernel } from './feature-combinations.js';

/** What `--soft-pages` did, in the report (`softPages`). */
export interface SoftPagesReport {
  /** Page sends skipped because the guest's hint called the page soft, over every round: on the guest's word. */
  pagesSkippedSoft: number;
  /** Of the pages skipped, those whose content never went at all (the destination has them zero or stale). */
  pagesNeverSent: number;
  /** Age of the oldest vCPU hint each round was judged by (ms; null: no usable hint), the final round last. */
  roundHintAgeMs: (number | null)[];
  /** Pre-suspend interrupt: raised to the last acknowledgement (ms); null when not every vCPU answered. */
  interruptMs: number | null;
  /** vCPUs that acknowledged the interrupt before the guest was parked (the others' soft pages were sent). */
  vcpusAcknowledged: number;
  /** Hints refused as malformed (LM_ERR_BAD_HINT): their pages were judged hard. */
  hintsRejected: number;
  lastHintError: string | null;
}

export const DEFAULT_INTERRUPT_TIMEOUT_MS = 1000;

/** Whether the guest runs the guest kernel (only its workloads publish soft pages). */
export function hasGuestKernel(guest: Guest): boolean {
  return workloadHasKernel(guest.workload.name);
}
const ACK_POLL_MS = 1;

/**
 * SonicMigration's rule on the source (Koto et al.): a round skips the pages the latest hint calls soft,
 * unless they were dirtied after it; stop-and-copy is preceded by the pre-suspend interrupt, and the final
 * round sends, besides what was dirtied, every page skipped before that the final hint does not call soft.
 *
 * "Dirtied after the hint": the guest kernel clears a page's bit before it writes the page (so a bit read
 * after a harvest is never older than the write that dirtied the page), and this side judges a vCPU's
 * harvested pages by its hint only when the hint was published since the harvest before: with no new
 * hint, every page dirtied since was dirtied after the hint and is sent, whatever the bitmap says.
 *
 * A guest is untrusted: a malformed hint is refused (counted, its pages sent); a lying one (hard pages
 * called soft) gets a destination copy without those pages, and nothing else: bits are per vCPU partition.
 *
 * A page an earlier round may have sent directly (`directSends`) is never skipped: see DirectSends.
 */
export class SoftPageFilter {
  readonly report: SoftPagesReport = {
    pagesSkippedSoft: 0,
    pagesNeverSent: 0,
    roundHintAgeMs: [],
    interruptMs: null,
    vcpusAcknowledged: 0,
    hintsRejected: 0,
    lastHintError: null,
  };
  readonly #area: HintArea;
  /** Pages whose current content this side has not sent because a hint called them soft. */
  readonly #skipped: Uint8Array;
  /** Hint generation of each vCPU seen at the previous round (-1: none yet). */
  readonly #lastGeneration: number[];
  #requests: number[] | undefined;
  #acknowledged: boolean[] = [];

  constructor(
    readonly guest: Guest,
    private readonly log: Logger,
    private readonly directSends?: DirectSends,
  ) {
    this.#area = new HintArea(guest.memory, guest.workload, guest.vcpuCount);
    this.#skipped = new Uint8Array(guest.memory.pageCount);
    this.#lastGeneration = new Array<number>(guest.vcpuCount).fill(-1);
  }

  /** Each vCPU's hint, checked; a refused one counts and is judged absent. */
  #headers(): (HintHeader | undefined)[] {
    return Array.from({ length: this.#area.vcpus }, (_, vcpu) => {
      try {
        return this.#area.header(vcpu);
      } catch (error) {
        if (!(error instanceof GuestError)) throw error;
        this.report.hintsRejected++;
        this.report.lastHintError = error.message;
        this.log.warn({ code: error.code, vcpu }, error.message);
        return undefined;
      }
    });
  }

  /** Keeps the pages of `pages` that must be sent, for the vCPUs `judged` says may be judged by their hint. */
  #keep(pages: Uint32Array, judged: boolean[]): Uint32Array {
    const kept = new Uint32Array(pages.length);
    let n = 0;
    for (const page of pages) {
      const vcpu = this.#area.vcpuOf(page);
      if (judged[vcpu] && this.#area.isSoft(vcpu, page) && this.directSends?.mustResend(page) !== true) {
        this.#skipped[page] = 1;
        this.report.pagesSkippedSoft++;
      } else {
        this.#skipped[page] = 0;
        kept[n++] = page;
      }
    }
    return kept.subarray(0, n);
  }

  #recordAge(headers: (HintHeader | undefined)[], judged: boolean[]): void {
    const now = Date.now();
    let oldest: number | null = null;
    headers.forEach((h, vcpu) => {
      if (h && judged[vcpu]) oldest = Math.max(oldest ?? 0, now - h.publishedAt);
    });
    this.report.roundHintAgeMs.push(oldest === null ? null : roundTenth(oldest));
  }

  /** A pre-copy round's pages (just harvested, ascending) less the ones skipped as soft. */
  round(pages: Uint32Array): Uint32Array {
    const headers = this.#headers();
    const judged = headers.map((h, vcpu) => {
      const fresh = h !== undefined && h.generation !== this.#lastGeneration[vcpu];
      this.#lastGeneration[vcpu] = h?.generation ?? -1;
      return fresh;
    });
    this.#recordAge(headers, judged);
    return this.#keep(pages, judged);
  }

  /**
   * Raises the pre-suspend interrupt and waits (at most `timeoutMs`; not at all for a guest already still)
   * for every vCPU to drop its soft state and acknowledge. The vCPUs that acknowledged stay in their
   * acknowledgement until release(); call it as soon as the guest is told to park.
   */
  async interrupt(timeoutMs: number): Promise<void> {
    const requests = this.#area.raiseInterrupt();
    this.#requests = requests;
    const raised = performance.now();
    const all = (): boolean => requests.every((request, vcpu) => this.#area.acknowledged(vcpu, request));
    while (!all() && !this.guest.parked && performance.now() - raised < timeoutMs) await sleep(ACK_POLL_MS);
    if (all()) this.report.interruptMs = roundTenth(performance.now() - raised);
    else this.log.warn({ timeoutMs }, 'pre-suspend interrupt: not every vCPU answered in time; their soft pages are sent');
  }

  /** Releases the vCPUs from their acknowledgement (the guest has been told to park). */
  release(): void {
    if (this.#requests) this.#area.release(this.#requests);
  }

  /**
   * The final round (the guest parked): what was dirtied and every page skipped before, less what the final
   * hint calls soft, for the vCPUs that acknowledged the interrupt (it dropped their soft state); for the
   * others, soft pages are sent after all, so no vCPU finds a page missing.
   */
  final(pages: Uint32Array): Uint32Array {
    const requests = this.#requests ?? [];
    this.#acknowledged = requests.map((request, vcpu) => this.#area.acknowledged(vcpu, request));
    this.report.vcpusAcknowledged = this.#acknowledged.filter(Boolean).length;
    const headers = this.#headers();
    const judged = headers.map((h, vcpu) => h !== undefined && this.#acknowledged[vcpu] === true);
    this.#recordAge(headers, judged);
    // The candidates, ascending, in one pass over the flags (this runs in the downtime): the pages dirtied
    // (flagged 2 here) and those skipped before (1). #keep then sets every candidate's flag anew.
    const skipped = this.#skipped;
    for (const page of pages) skipped[page] = 2;
    const candidates = new Uint32Array(skipped.length);
    let n = 0;
    for (let page = 0; page < skipped.length; page++) if (skipped[page] !== 0) candidates[n++] = page;
    const kept = this.#keep(candidates.subarray(0, n), judged);
    let never = 0;
    for (const flag of this.#skipped) never += flag;
    this.report.pagesNeverSent = never;
    return kept;
  }
}
