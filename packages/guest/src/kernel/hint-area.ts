import { GuestError, GuestErrorCode } from '../errors.js';
import type { GuestMemory } from '../memory.js';
import type { WorkloadSpec } from '../workload-spec.js';
import { KERNEL_MAGIC, kernelLayout, kernelSizes, Sb, type KernelLayout } from './layout.js';
import { PartitionWords } from './partition-words.js';

/** One vCPU's latest soft-page hint, as the host read and checked it. */
export interface HintHeader {
  generation: number;
  /** When the guest published it (Date.now() in the guest). */
  publishedAt: number;
  softPages: number;
}

/** A hint more than this far in the future is refused (the clock is the host's own; only skew of threads). */
const FUTURE_SLACK_MS = 1000;

function badHint(vcpu: number, what: string): GuestError {
  return new GuestError(GuestErrorCode.BAD_HINT, `vCPU ${vcpu}'s hint area: ${what}`);
}

/**
 * The host's side of the guest kernels' hint areas and pre-suspend interrupt (SonicMigration). Everything
 * read here was written by the guest, which is untrusted: headers are checked against the layout the host
 * computes itself, and a bit can only name a page of the vCPU's own partition (a lying guest can make the
 * host skip its own pages, never another's).
 */
export class HintArea {
  readonly layouts: readonly KernelLayout[];
  readonly #words: PartitionWords[];
  readonly #memory: GuestMemory;

  constructor(memory: GuestMemory, workload: WorkloadSpec, vcpus: number) {
    this.#memory = memory;
    const sizes = kernelSizes(workload.params);
    const slotWords = memory.slots.map((s) => new Uint32Array(s.buffer, s.byteOffset, s.byteLength >>> 2));
    this.layouts = Array.from({ length: vcpus }, (_, i) => kernelLayout(sizes, i, vcpus, memory.pageCount));
    this.#words = this.layouts.map((l) => new PartitionWords(slotWords, memory.pagesPerSlot, l.start));
  }

  get vcpus(): number {
    return this.layouts.length;
  }

  /** The vCPU whose partition holds absolute page `page`. */
  vcpuOf(page: number): number {
    let lo = 0;
    let hi = this.layouts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.layouts[mid] as KernelLayout).start <= page) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * vCPU `vcpu`'s latest hint, or undefined while its kernel has published none.
   * @throws GuestError LM_ERR_BAD_HINT when the header or the bitmap's tail cannot be right
   */
  header(vcpu: number, now = Date.now()): HintHeader | undefined {
    const layout = this.layouts[vcpu] as KernelLayout;
    const words = this.#words[vcpu] as PartitionWords;
    const magic = words.load(0, Sb.MAGIC);
    const generation = words.load(0, Sb.HINT_GEN);
    if (magic !== KERNEL_MAGIC) {
      if (generation !== 0) throw badHint(vcpu, `a hint (generation ${generation}) without the kernel's magic`);
      return undefined;
    }
    if (generation === 0) return undefined;
    const first = words.load(0, Sb.HINT_FIRST_PAGE);
    const count = words.load(0, Sb.HINT_WORDS);
    if (first !== layout.hintPage || count !== layout.bitmapWords) {
      throw badHint(vcpu, `bitmap at page ${first} with ${count} words, expected page ${layout.hintPage} with ${layout.bitmapWords}`);
    }
    const softPages = words.load(0, Sb.HINT_SOFT);
    if (softPages > layout.pages) throw badHint(vcpu, `${softPages} soft pages in a partition of ${layout.pages}`);
    const publishedAt = words.load(0, Sb.HINT_AT_HI) * 2 ** 32 + words.load(0, Sb.HINT_AT_LO);
    if (publishedAt > now + FUTURE_SLACK_MS) throw badHint(vcpu, `published ${publishedAt - now} ms in the future`);
    const tailBits = layout.pages % 32;
    if (tailBits !== 0 && words.load(layout.hintPage, layout.bitmapWords - 1) >>> tailBits !== 0) {
      throw badHint(vcpu, `bits set beyond the partition's ${layout.pages} pages`);
    }
    return { generation, publishedAt, softPages };
  }

  /** Whether the hint calls absolute page `page` (of vCPU `vcpu`'s partition) soft, read as it is now. */
  isSoft(vcpu: number, page: number): boolean {
    const layout = this.layouts[vcpu] as KernelLayout;
    const rel = page - layout.start;
    if (rel < 0 || rel >= layout.pages) return false;
    return ((this.#words[vcpu] as PartitionWords).load(layout.hintPage, rel >>> 5) >>> (rel & 31)) & 1 ? true : false;
  }

  /** Asks every vCPU's kernel to balloon up to `pages` of its free pages (0: give them all back to the guest). */
  setBalloonTarget(pages: number): void {
    this.#words.forEach((words, vcpu) => {
      words.store(0, Sb.BALLOON_TARGET, pages);
      this.#memory.markDirty((this.layouts[vcpu] as KernelLayout).start);
    });
  }

  /** Inflations vCPU `vcpu`'s kernel has made so far. */
  balloonGeneration(vcpu: number): number {
    return (this.#words[vcpu] as PartitionWords).load(0, Sb.BALLOON_GEN);
  }

  /**
   * Pages vCPU `vcpu`'s kernel says it ballooned.
   * @throws GuestError LM_ERR_BAD_HINT when the count exceeds the partition or bits lie beyond it
   */
  ballooned(vcpu: number): number {
    const layout = this.layouts[vcpu] as KernelLayout;
    const words = this.#words[vcpu] as PartitionWords;
    const pages = words.load(0, Sb.BALLOON_PAGES);
    if (pages > layout.pages) throw badHint(vcpu, `${pages} ballooned pages in a partition of ${layout.pages}`);
    const tailBits = layout.pages % 32;
    if (tailBits !== 0 && words.load(layout.balloonPage, layout.bitmapWords - 1) >>> tailBits !== 0) {
      throw badHint(vcpu, `balloon bits set beyond the partition's ${layout.pages} pages`);
    }
    return pages;
  }

  /** Whether absolute page `page` (of vCPU `vcpu`'s partition) is in the balloon, read as it is now. */
  isBallooned(vcpu: number, page: number): boolean {
    const layout = this.layouts[vcpu] as KernelLayout;
    const rel = page - layout.start;
    if (rel < 0 || rel >= layout.pages) return false;
    return ((this.#words[vcpu] as PartitionWords).load(layout.balloonPage, rel >>> 5) >>> (rel & 31)) & 1 ? true : false;
  }

  /** Raises the pre-suspend interrupt on every vCPU; returns each vCPU's request number. */
  raiseInterrupt(): number[] {
    return this.#words.map((words, vcpu) => {
      const request = (words.load(0, Sb.IRQ_ACK) + 1) >>> 0;
      words.store(0, Sb.IRQ_REQUEST, request);
      this.#memory.markDirty((this.layouts[vcpu] as KernelLayout).start);
      return request;
    });
  }

  acknowledged(vcpu: number, request: number): boolean {
    return (this.#words[vcpu] as PartitionWords).load(0, Sb.IRQ_ACK) === request;
  }

  /** Lets every vCPU blocked in its acknowledgement return (call once the guest is told to park). */
  release(requests: readonly number[]): void {
    requests.forEach((request, vcpu) => {
      (this.#words[vcpu] as PartitionWords).storeAndNotify(0, Sb.IRQ_RELEASE, request);
      this.#memory.markDirty((this.layouts[vcpu] as KernelLayout).start);
    });
  }
}
