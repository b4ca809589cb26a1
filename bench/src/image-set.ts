import { rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatBytes } from '@livemig/agent-runtime';
import { writeImage, type ImageKind } from './images.js';
import { progress } from './output.js';

export interface PreparedImage {
  /** `zero`, `random`, `text`, `mixed`, or `file:NAME` for --image-file. */
  name: string;
  path: string;
  bytes: number;
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
export async function prepareImages(scratch: Scratch, kinds: ImageKind[], size: number, imageFile?: string): Promise<PreparedImage[]> {
  const images: PreparedImage[] = [];
  for (const kind of kinds) {
    const path = scratch.file(`${kind}.img`);
    const start = performance.now();
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
