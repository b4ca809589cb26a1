import { rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatBytes } from '@livemig/agent-runtime';
import { writeImage, type ImageKind } from './images.js';
import { progress } from './output.js';
import { writeRealImage, type PageFractions } from './real-image.js';

/** The image of real programs' memory (real-image.ts): asked for by name, never among the defaults. */
export const REAL_IMAGE = 'real';
export type BenchImage = ImageKind | typeof REAL_IMAGE;

export interface PreparedImage {
  /** `zero`, `random`, `text`, `mixed`, or `file:NAME` for --image-file. */
  name: string;
  path: string;
  bytes: number;
  /** For the `real` image: its pages by the encoding the source gives them alone. */
  fractions?: PageFractions;
}

const live = new Set<Scratch>();

/** A temp directory under os.tmpdir() for generated images and agent reports, removed by `dispose`. */
export class Scratch {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Scratch> {
    const scratch = new Scratch(await mkdtemp(join(tmpdir(), 'livemig-bench-')));
    live.add(scratch);
    return scratch;
  }

  /** Removes every scratch directory still present: for an interrupted run. */
  static disposeAllSync(): void {
    for (const scratch of live) rmSync(scratch.dir, { recursive: true, force: true });
    live.clear();
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  async dispose(): Promise<void> {
    live.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Generates each kind of image at `size` into the scratch directory, plus the user's --image-file if given. */
export async function prepareImages(scratch: Scratch, kinds: BenchImage[], size: number, imageFile?: string): Promise<PreparedImage[]> {
  const images: PreparedImage[] = [];
  for (const kind of kinds) {
    const path = scratch.file(`${kind}.img`);
    const start = performance.now();
    if (kind === REAL_IMAGE) {
      const real = await writeRealImage(path, size, scratch.dir);
      const f = real.fractions;
      progress(
        `made real image: ${formatBytes(size)} from ${Object.entries(real.sources).map(([n, b]) => `${n} ${formatBytes(b)}`).join(', ')} in ${((performance.now() - start) / 1000).toFixed(1)} s; ` +
          `zero ${(100 * f.zero).toFixed(1)} %, same-byte ${(100 * f.sameByte).toFixed(1)} %, compressible ${(100 * f.compressible).toFixed(1)} %, random ${(100 * f.random).toFixed(1)} %`,
      );
      images.push({ name: kind, path, bytes: size, fractions: f });
      continue;
    }
    await writeImage(path, kind, size);
    progress(`generated ${kind} image: ${formatBytes(size)} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    images.push({ name: kind, path, bytes: size });
  }
  if (imageFile !== undefined) {
    const path = resolve(imageFile);
    const { size: bytes } = await stat(path);
    images.push({ name: `file:${basename(path)}`, path, bytes });
  }
  return images;
}

/** A note per image that has page fractions (the `real` one): what the results were measured on. */
export function imageNotes(images: PreparedImage[]): string[] {
  return images.flatMap(({ name, fractions: f }) =>
    f === undefined
      ? []
      : [`${name} image pages, as the source encodes them alone: zero ${(100 * f.zero).toFixed(1)} %, same-byte ${(100 * f.sameByte).toFixed(1)} %, lz4-compressible ${(100 * f.compressible).toFixed(1)} %, raw (random) ${(100 * f.random).toFixed(1)} %`],
  );
}
