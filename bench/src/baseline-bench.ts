import { formatBytes } from '@livemig/agent-runtime';
import { runBaseline, type BaselineMemory } from './baseline.js';
import { Scratch, prepareImages, type BenchImage } from './image-set.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, range, ratio } from './stats.js';

export interface BaselineParams {
  size: number;
  reps: number;
  images: string[];
  timeoutMs: number;
}

export interface BaselineResult {
  image: string;
  /** The receiver's buffer: pre-touched, or fresh (first writes fault, as into a destination's new guest memory). */
  memory: BaselineMemory;
  bytes: number;
  reps: number;
  /** Median over repetitions. */
  ms: number | null;
  gbps: number | null;
  minGbps: number | null;
  maxGbps: number | null;
  /** Median over repetitions of this push's time over the pre-touched push's time in the same repetition. */
  perTouched: number | null;
  runs: { ms: number; gbps: number }[];
}

const MEMORIES: readonly BaselineMemory[] = ['touched', 'fresh'];

/** The physical limit: two processes move the image's bytes over loopback TCP with nothing else to do. */
export async function baseline(params: BaselineParams, imageFile: string | undefined, kinds: BenchImage[]): Promise<BenchOutput<BaselineParams, BaselineResult>> {
  const scratch = await Scratch.create();
  try {
    const images = await prepareImages(scratch, kinds, params.size, imageFile);
    const results: BaselineResult[] = [];
    for (const image of images) {
      const runs = new Map<BaselineMemory, { ms: number; gbps: number }[]>(MEMORIES.map((m) => [m, []]));
      for (let rep = 1; rep <= params.reps; rep++) {
        // Alternating, so both pushes see the same noise.
        for (const memory of MEMORIES) {
          const run = await runBaseline(image.path, image.bytes, params.timeoutMs, memory);
          progress(`${image.name} rep ${rep}/${params.reps} into ${memory} memory: ${run.gbps.toFixed(2)} GB/s (${run.ms.toFixed(1)} ms)`);
          runs.get(memory)!.push({ ms: run.ms, gbps: run.gbps });
        }
      }
      const touched = runs.get('touched')!;
      for (const memory of MEMORIES) {
        const list = runs.get(memory)!;
        const spread = range(list.map((r) => r.gbps));
        results.push({
          image: image.name,
          memory,
          bytes: image.bytes,
          reps: list.length,
          ms: median(list.map((r) => r.ms)),
          gbps: median(list.map((r) => r.gbps)),
          minGbps: spread?.[0] ?? null,
          maxGbps: spread?.[1] ?? null,
          perTouched: median(list.map((r, i) => ratio(r.ms, touched[i]?.ms ?? null))),
          runs: list,
        });
      }
    }
    const notes = [
      'sender and receiver are separate processes; receiver times accepted connection to last byte',
      'touched: the receiver wrote its buffer before listening; fresh: it did not (each first write of a page faults); the two alternate per repetition',
    ];
    return { bench: 'baseline', machine: machine(), params, results, notes };
  } finally {
    await scratch.dispose();
  }
}

export function formatBaseline(output: BenchOutput<BaselineParams, BaselineResult>): string {
  return table(
    ['image', 'memory', 'size', 'reps', 'ms', 'GB/s', 'min..max', 'x touched'],
    output.results.map((r) => [
      r.image,
      r.memory,
      formatBytes(r.bytes),
      String(r.reps),
      fixed(r.ms, 1),
      fixed(r.gbps, 2),
      r.minGbps === null ? '-' : `${r.minGbps.toFixed(2)}..${fixed(r.maxGbps, 2)}`,
      fixed(r.perTouched, 2),
    ]),
  );
}
