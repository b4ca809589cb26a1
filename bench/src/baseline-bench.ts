import { formatBytes } from '@livemig/agent-runtime';
import { bestPush, type BaselineMemory, type BaselineRun } from './baseline.js';
import { Scratch, prepareImages, type BenchImage } from './image-set.js';
import { fixed, machine, progress, table, type BenchOutput } from './output.js';
import { median, range, ratio } from './stats.js';

export interface BaselineParams {
  size: number;
  reps: number;
  images: string[];
  /** Numbers of connections tried in every repetition; the fastest of them is the repetition's `best`. */
  connections: number[];
  timeoutMs: number;
}

export interface BaselineResult {
  image: string;
  /** The receiver's buffer: pre-touched, or fresh (first writes fault, as into a destination's new guest memory). */
  memory: BaselineMemory;
  /** Connections the push was split over, or `best`: the fastest count of each repetition. */
  connections: number | 'best';
  bytes: number;
  reps: number;
  /** Median over repetitions. */
  ms: number | null;
  gbps: number | null;
  minGbps: number | null;
  maxGbps: number | null;
  /** Median over repetitions of this push's time over the best pre-touched push's time in the same repetition. */
  perBestTouched: number | null;
  runs: { ms: number; gbps: number; connections: number }[];
}

const MEMORIES: readonly BaselineMemory[] = ['touched', 'fresh'];

/**
 * The physical limit as a destination meets it: two processes move the image's bytes over loopback TCP with
 * nothing else to do, over each number of connections, into pre-touched and into fresh memory.
 */
export async function baseline(params: BaselineParams, imageFile: string | undefined, kinds: BenchImage[]): Promise<BenchOutput<BaselineParams, BaselineResult>> {
  const scratch = await Scratch.create();
  try {
    const images = await prepareImages(scratch, kinds, params.size, imageFile);
    const results: BaselineResult[] = [];
    for (const image of images) {
      /** Per memory, per repetition: every count's run and the best. */
      const reps = new Map<BaselineMemory, { runs: BaselineRun[]; best: BaselineRun }[]>(MEMORIES.map((m) => [m, []]));
      for (let rep = 1; rep <= params.reps; rep++) {
        // Alternating, so both memories see the same noise.
        for (const memory of MEMORIES) {
          const push = await bestPush(image.path, image.bytes, params.timeoutMs, memory, params.connections);
          progress(
            `${image.name} rep ${rep}/${params.reps} into ${memory} memory: ` +
              push.runs.map((r) => `${r.connections} conn ${r.gbps.toFixed(2)} GB/s (${r.ms.toFixed(1)} ms)`).join(', '),
          );
          reps.get(memory)!.push(push);
        }
      }
      const bestTouched = reps.get('touched')!.map((push) => push.best.ms);
      for (const memory of MEMORIES) {
        const pushes = reps.get(memory)!;
        const rows: [number | 'best', BaselineRun[]][] = [
          ...params.connections.map((n, i): [number, BaselineRun[]] => [n, pushes.map((push) => push.runs[i]!)]),
          ['best', pushes.map((push) => push.best)],
        ];
        for (const [connections, list] of rows) {
          const spread = range(list.map((r) => r.gbps));
          results.push({
            image: image.name,
            memory,
            connections,
            bytes: image.bytes,
            reps: list.length,
            ms: median(list.map((r) => r.ms)),
            gbps: median(list.map((r) => r.gbps)),
            minGbps: spread?.[0] ?? null,
            maxGbps: spread?.[1] ?? null,
            perBestTouched: median(list.map((r, i) => ratio(r.ms, bestTouched[i] ?? null))),
            runs: list.map(({ ms, gbps, connections: n }) => ({ ms, gbps, connections: n })),
          });
        }
      }
    }
    const notes = [
      'sender and receiver are separate processes, one thread per connection at each end; the image is split into contiguous shares, one per connection; receiver times first accepted connection to last byte',
      'touched: the receiver wrote its buffer before listening; fresh: it did not (each first write of a page faults); the two alternate per repetition',
      `best: the fastest of ${params.connections.join(', ')} connections in each repetition; x best touched: time over the best pre-touched push of the same repetition`,
    ];
    return { bench: 'baseline', machine: machine(), params, results, notes };
  } finally {
    await scratch.dispose();
  }
}

export function formatBaseline(output: BenchOutput<BaselineParams, BaselineResult>): string {
  return table(
    ['image', 'memory', 'connections', 'size', 'reps', 'ms', 'GB/s', 'min..max', 'x best touched'],
    output.results.map((r) => [
      r.image,
      r.memory,
      r.connections === 'best' ? `best (${r.runs.map((run) => run.connections).join(',')})` : String(r.connections),
      formatBytes(r.bytes),
      String(r.reps),
      fixed(r.ms, 1),
      fixed(r.gbps, 2),
      r.minGbps === null ? '-' : `${r.minGbps.toFixed(2)}..${fixed(r.maxGbps, 2)}`,
      fixed(r.perBestTouched, 2),
    ]),
  );
}
