import { formatBytes } from '@livemig/agent-runtime';
import { runBaseline } from './baseline.js';
import { Scratch, prepareImages } from './image-set.js';
import type { ImageKind } from './images.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, range } from './stats.js';

export interface BaselineParams {
  size: number;
  reps: number;
  images: string[];
  timeoutMs: number;
}

export interface BaselineResult {
  image: string;
  bytes: number;
  reps: number;
  /** Median over repetitions. */
  ms: number | null;
  gbps: number | null;
  minGbps: number | null;
  maxGbps: number | null;
  runs: { ms: number; gbps: number }[];
}

/** The physical limit: two processes move the image's bytes over loopback TCP with nothing else to do. */
export async function baseline(params: BaselineParams, imageFile: string | undefined, kinds: ImageKind[]): Promise<BenchOutput<BaselineParams, BaselineResult>> {
  const scratch = await Scratch.create();
  try {
    const images = await prepareImages(scratch, kinds, params.size, imageFile);
    const results: BaselineResult[] = [];
    for (const image of images) {
      const runs: { ms: number; gbps: number }[] = [];
      for (let rep = 1; rep <= params.reps; rep++) {
        const run = await runBaseline(image.path, image.bytes, params.timeoutMs);
        progress(`${image.name} rep ${rep}/${params.reps}: ${run.gbps.toFixed(2)} GB/s (${run.ms.toFixed(1)} ms)`);
        runs.push({ ms: run.ms, gbps: run.gbps });
      }
      const spread = range(runs.map((r) => r.gbps));
      results.push({
        image: image.name,
        bytes: image.bytes,
        reps: runs.length,
        ms: median(runs.map((r) => r.ms)),
        gbps: median(runs.map((r) => r.gbps)),
        minGbps: spread?.[0] ?? null,
        maxGbps: spread?.[1] ?? null,
        runs,
      });
    }
    const notes = ['sender and receiver are separate processes; receiver times accepted connection to last byte'];
    return { bench: 'baseline', machine: machine(), params, results, notes };
  } finally {
    await scratch.dispose();
  }
}

export function formatBaseline(output: BenchOutput<BaselineParams, BaselineResult>): string {
  return table(
    ['image', 'size', 'reps', 'ms', 'GB/s', 'min..max'],
    output.results.map((r) => [
      r.image,
      formatBytes(r.bytes),
      String(r.reps),
      fixed(r.ms, 1),
      fixed(r.gbps, 2),
      r.minGbps === null ? '-' : `${r.minGbps.toFixed(2)}..${fixed(r.maxGbps, 2)}`,
    ]),
  );
}
