import { open, stat } from 'node:fs/promises';
import { PAGE_SIZE } from '@livemig/protocol';
import { RandomBytes, mulberry32 } from './rng.js';

export const IMAGE_KINDS = ['zero', 'random', 'text', 'mixed'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

export function isImageKind(name: string): name is ImageKind {
  return (IMAGE_KINDS as readonly string[]).includes(name);
}

/** Pages generated and written per file write. */
const CHUNK_PAGES = 1024;

/** A fixed vocabulary of common English words (and a few of this project's). */
const VOCABULARY = (
  'the of and to in is was that for it with as his on be at by had not are but from or have an they which one ' +
  'you were her all she there would their we him been has when who will more no if out so said what up its ' +
  'about into than them can only other new some could time these two may then do first any my now such like ' +
  'our over man me even most made after also did many before must through back years where much your way well ' +
  'down should because each just those people how too little state good very make world still own see men work ' +
  'long get here between both life being under never day same another know while last might us great old year ' +
  'off come since against go came right used take three system states himself few house use during without ' +
  'again place around however home small found thought went say part once general high upon school every ' +
  'migration memory page guest source destination network round switchover commit engine buffer socket frame ' +
  'kernel process thread worker register digest checksum bandwidth latency downtime replica snapshot cluster'
).split(' ');

/**
 * Phrases of 2-5 words drawn from the vocabulary. lz4 finds little in single words (a match costs 3 bytes
 * and must be 4 long), so the text is made of phrases, as real prose repeats word groups. 96 phrases drawn
 * with a Zipf-like skew make 4 KiB pages that lz4 shrinks about 2.5x (1.5x with single words).
 */
const PHRASES = 96;

/** Pseudo-English text, one continuous stream across pages: seeded, so the same seed gives the same bytes. */
export class TextStream {
  readonly #next: () => number;
  readonly #phrases: Uint8Array[] = [];
  /** The phrase being written and how much of it is already out, when a page ended inside it. */
  #current: Uint8Array = new Uint8Array(0);
  #offset = 0;

  constructor(seed: number) {
    const pick = mulberry32(seed ^ 0x7e47);
    for (let i = 0; i < PHRASES; i++) {
      const words: string[] = [];
      for (let n = 2 + (pick() % 4); n > 0; n--) words.push(VOCABULARY[pick() % VOCABULARY.length]!);
      const end = pick() % 6;
      words[words.length - 1] += end === 0 ? '. ' : end === 1 ? ', ' : ' ';
      this.#phrases.push(Buffer.from(words.join(' '), 'latin1'));
    }
    this.#next = mulberry32(seed ^ 0x5eed);
  }

  fill(dst: Uint8Array): void {
    let at = 0;
    const end = dst.length;
    let phrase = this.#current;
    let k = this.#offset;
    while (at < end) {
      if (k === phrase.length) {
        const u = this.#next() / 0x1_0000_0000;
        phrase = this.#phrases[Math.floor(PHRASES * u * u)]!;
        k = 0;
      }
      while (k < phrase.length && at < end) dst[at++] = phrase[k++]!;
    }
    this.#current = phrase;
    this.#offset = k;
  }
}

/** Fills whole pages of one kind of image, page by page, so that any size can be streamed to a file. */
export interface PageFiller {
  fill(dst: Buffer): void;
}

/** Runs of this many pages of one kind make up the `mixed` image. */
const MIXED_RUN_PAGES = 4;
/** One group of runs: 1/4 zero, 1/4 random, 1/2 text; the order is shuffled per group. */
const MIXED_GROUP: readonly Exclude<ImageKind, 'mixed'>[] = ['zero', 'zero', 'random', 'random', 'text', 'text', 'text', 'text'];

/**
 * `mixed`: interleaved runs of MIXED_RUN_PAGES pages, in groups of 8 runs holding exactly 2 zero, 2 random and
 * 4 text runs in a seeded shuffled order, so any prefix of whole groups has the 1/4 : 1/4 : 1/2 split.
 */
class MixedFiller implements PageFiller {
  readonly #random: RandomBytes;
  readonly #text: TextStream;
  readonly #next: () => number;
  #page = 0;
  #order: Exclude<ImageKind, 'mixed'>[] = [];

  constructor(seed: number) {
    this.#random = new RandomBytes(seed);
    this.#text = new TextStream(seed);
    this.#next = mulberry32(seed ^ 0x313e);
  }

  /** Kind of the page at `index` in the image (pages are filled in order). */
  #kind(): Exclude<ImageKind, 'mixed'> {
    const inGroup = this.#page % (MIXED_GROUP.length * MIXED_RUN_PAGES);
    if (inGroup === 0) {
      this.#order = [...MIXED_GROUP];
      for (let i = this.#order.length - 1; i > 0; i--) {
        const j = this.#next() % (i + 1);
        [this.#order[i], this.#order[j]] = [this.#order[j]!, this.#order[i]!];
      }
    }
    return this.#order[Math.floor(inGroup / MIXED_RUN_PAGES)]!;
  }

  fill(dst: Buffer): void {
    for (let at = 0; at < dst.length; at += PAGE_SIZE) {
      const page = dst.subarray(at, at + PAGE_SIZE);
      const kind = this.#kind();
      if (kind === 'zero') page.fill(0);
      else if (kind === 'random') this.#random.fill(page);
      else this.#text.fill(page);
      this.#page += 1;
    }
  }
}

export function pageFiller(kind: ImageKind, seed = 1): PageFiller {
  switch (kind) {
    case 'zero':
      return { fill: (dst) => dst.fill(0) };
    case 'random':
      return new RandomBytes(seed);
    case 'text':
      return new TextStream(seed);
    case 'mixed':
      return new MixedFiller(seed);
  }
}

/** Writes an image of `bytes` (a whole number of pages) to `path`. */
export async function writeImage(path: string, kind: ImageKind, bytes: number, seed = 1): Promise<void> {
  if (bytes <= 0 || bytes % PAGE_SIZE !== 0) throw new RangeError(`image size ${bytes} is not a positive multiple of ${PAGE_SIZE}`);
  const file = await open(path, 'w');
  try {
    if (kind === 'zero') {
      // A sparse file reads back as zeros; both sides load it into memory before any timing starts.
      await file.truncate(bytes);
      return;
    }
    const filler = pageFiller(kind, seed);
    const chunk = Buffer.alloc(CHUNK_PAGES * PAGE_SIZE);
    for (let at = 0; at < bytes; at += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - at));
      filler.fill(part);
      await file.write(part, 0, part.length, at);
    }
  } finally {
    await file.close();
  }
}

/** Largest buffer read in one piece: files beyond it (past 2 GiB readFile's limit) load as several slots. */
export const SLOT_BYTES = 1024 ** 3;

/** Reads a whole file into memory as slots of at most SLOT_BYTES, like guest memory slots. */
export async function readImageSlots(path: string): Promise<Buffer[]> {
  const { size } = await stat(path);
  const file = await open(path, 'r');
  try {
    const slots: Buffer[] = [];
    for (let at = 0; at < size; at += SLOT_BYTES) {
      const slot = Buffer.allocUnsafe(Math.min(SLOT_BYTES, size - at));
      let filled = 0;
      while (filled < slot.length) {
        const { bytesRead } = await file.read(slot, filled, slot.length - filled, at + filled);
        if (bytesRead === 0) throw new Error(`${path}: file ended at ${at + filled} bytes, expected ${size}`);
        filled += bytesRead;
      }
      slots.push(slot);
    }
    return slots;
  } finally {
    await file.close();
  }
}
