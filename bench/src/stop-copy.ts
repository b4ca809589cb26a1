import { DEST_AGENT, ROOT, SOURCE_AGENT, runAgentPair, sourceRunHelp } from './agents.js';
import { bestPush, type BaselineRun } from './baseline.js';
import { NodeChild, track } from './child.js';
import { Scratch, imageNotes, prepareImages, type BenchImage, type PreparedImage } from './image-set.js';
import { bytesOrDash, fixed, machine, progress, table, type BenchOutput } from './output.js';
import { num, str, takeReports } from './report-file.js';
import { median, ratio } from './stats.js';
import { gbPerSecond } from './units.js';
import { BENCH_PSK_IDENTITY, writePskFile } from './psk-file.js';

export interface StopCopyParams {
  size: number;
  reps: number;
  images: string[];
  streams: number | null;
  deltaCache: string | null;
  /** Passed on to source-agent --compress; null: the agent's default. */
  compress: string | null;
  /** `image`: --image-file IMG --paused; `idle`: --memory SIZE --workload idle (agents without image support). */
  guest: 'image' | 'idle';
  /** The destination's guest memory, one migration each per repetition: fresh, or faulted in before (`--prefault`). */
  destMemory: DestMemory[];
  /** Also migrate each image over TLS (PSK), alternating with the plain migration in every repetition. */
  tls: boolean;
  /**
   * How the destination's data channels read plain TCP, one migration each per repetition: into the frame
   * decoder's own buffers with runs of raw pages straight into guest memory (`owned`, the default), into the
   * decoder's buffers only (`frames`, LIVEMIG_DEST_READS=frames), or through 'data' chunks (LIVEMIG_DEST_READS=chunks).
   */
  destReads: DestReads[];
  /** Raw pages written from guest memory (`on`, PageBatchDirect) and/or copied into frames (`off`, --no-direct-pages). */
  directPages: DirectPages[];
  /** The raw push's numbers of connections, each tried in every repetition; ratios use the fastest. */
  connections: number[];
  timeoutMs: number;
}

export const DIRECT_PAGES = ['on', 'off'] as const;
export type DirectPages = (typeof DIRECT_PAGES)[number];

export const DEST_MEMORIES = ['fresh', 'prefault'] as const;
export type DestMemory = (typeof DEST_MEMORIES)[number];
export const DEST_READS = ['owned', 'frames', 'chunks'] as const;
export type DestReads = (typeof DEST_READS)[number];

/** Where a peak RSS came from: the agent's own report, or VmHWM sampled from /proc while it ran. */
type RssFrom = 'report' | 'proc' | null;

export interface StopCopyRun {
  rep: number;
  destMemory: DestMemory;
  destReads: DestReads;
  directPages: DirectPages;
  /** Whether this migration ran over TLS (PSK, TLS_AES_128_GCM_SHA256). */
  tls: boolean;
  /** The best raw push (fastest number of connections) into pre-touched memory, and into fresh memory, in the same repetition. */
  baselineMs: number;
  baselineGbps: number;
  baselineConnections: number;
  baselineFreshGbps: number;
  baselineFreshConnections: number;
  status: string;
  error: string | null;
  /** Migration start to commit (the source report's timeToCommitMs, or totalTimeMs where that is missing). */
  ms: number | null;
  timeField: 'timeToCommitMs' | 'totalTimeMs' | null;
  totalTimeMs: number | null;
  gbps: number | null;
  /** Migration GB/s over the baseline GB/s (pre-touched, and fresh) of the same repetition. */
  ratio: number | null;
  ratioFresh: number | null;
  bytesOnWire: number | null;
  reportedImageBytes: number | null;
  memoryBytes: number | null;
  pagesSent: unknown;
  bytesByEncoding: unknown;
  sourcePeakRssBytes: number | null;
  sourceRssFrom: RssFrom;
  destPeakRssBytes: number | null;
  destRssFrom: RssFrom;
  /** The agents' own cpuMs (their whole process over the migration); null when the report has none. */
  sourceCpuMs: number | null;
  destCpuMs: number | null;
  destStatus: string | null;
}

export interface StopCopyResult {
  image: string;
  destMemory: DestMemory;
  directPages: DirectPages;
  imageBytes: number;
  reps: number;
  completed: number;
  /** Medians over completed repetitions. */
  seconds: number | null;
  gbps: number | null;
  bytesOnWire: number | null;
  wirePercent: number | null;
  sourcePeakRssBytes: number | null;
  destPeakRssBytes: number | null;
  destRssPerImage: number | null;
  /** CPU-seconds per GiB of image on each side (medians). */
  sourceCpuSecPerGiB: number | null;
  destCpuSecPerGiB: number | null;
  baselineGbps: number | null;
  baselineFreshGbps: number | null;
  ratio: number | null;
  ratioFresh: number | null;
  runs: StopCopyRun[];
}

/** What the installed source agent accepts, read from `source-agent run --help`. */
interface SourceFlags {
  imageFile: boolean;
  paused: boolean;
  streams: boolean;
  deltaCache: boolean;
}

async function probeSourceFlags(timeoutMs: number): Promise<SourceFlags> {
  const text = await sourceRunHelp(timeoutMs);
  return {
    imageFile: text.includes('--image-file'),
    paused: text.includes('--paused'),
    streams: text.includes('--streams'),
    deltaCache: text.includes('--delta-cache'),
  };
}

export async function stopCopy(params: StopCopyParams, imageFile: string | undefined, kinds: BenchImage[]): Promise<BenchOutput<StopCopyParams, StopCopyResult>> {
  const notes: string[] = [];
  const flags = await probeSourceFlags(params.timeoutMs);
  const imageMode = flags.imageFile && flags.paused && params.guest === 'image';
  if (params.guest === 'idle') {
    notes.push('--guest idle: each migration moved an idle guest of the image size (--memory SIZE --workload idle), not the image');
  } else if (!imageMode) {
    notes.push(
      'source-agent has no --image-file/--paused yet: each migration moved an idle guest of the image size ' +
        '(--memory SIZE --workload idle, never-written memory) instead of the image; the baseline still moved the image bytes',
    );
  }
  if (params.streams !== null && !flags.streams) throw new Error('--streams: this source-agent has no --streams flag yet');
  if (params.deltaCache !== null && !flags.deltaCache) throw new Error('--delta-cache: this source-agent has no --delta-cache flag yet');

  const scratch = await Scratch.create();
  try {
    const images = await prepareImages(scratch, kinds, params.size, imageFile);
    const tlsArgs = params.tls ? ['--tls-psk-file', scratch.file('bench.psk')] : undefined;
    if (tlsArgs) await writePskFile(tlsArgs[1]!);
    const results: StopCopyResult[] = [];
    for (const image of images) {
      const runs: StopCopyRun[] = [];
      for (let rep = 1; rep <= params.reps; rep++) {
        const { best: baseline } = await bestPush(image.path, image.bytes, params.timeoutMs, 'touched', params.connections);
        const { best: fresh } = await bestPush(image.path, image.bytes, params.timeoutMs, 'fresh', params.connections);
        // With --tls, plain and TLS alternate which goes first, so that neither always meets a warmer machine.
        const order = tlsArgs === undefined ? [undefined] : rep % 2 === 1 ? [undefined, tlsArgs] : [tlsArgs, undefined];
        // The page forms and the read paths alternate which goes first too.
        const forms = rep % 2 === 1 ? params.directPages : [...params.directPages].reverse();
        const readsOrder = rep % 2 === 1 ? params.destReads : [...params.destReads].reverse();
        for (const destMemory of params.destMemory) {
          for (const directPages of forms) {
            for (const [destReads, tls] of readsOrder.flatMap((reads) => order.map((tls) => [reads, tls] as const))) {
              const run = await migrateOnce(image, rep, { baseline, fresh, destMemory, destReads, directPages }, params, imageMode, scratch, tls);
              progress(
                `${image.name}${run.tls ? ' over TLS' : ''}${destReads === 'owned' ? '' : ` (${destReads} reads)`} rep ${rep}/${params.reps}: best baseline ${baseline.gbps.toFixed(2)} GB/s over ${baseline.connections} (fresh ${fresh.gbps.toFixed(2)} over ${fresh.connections}), migration into ${destMemory} memory, direct pages ${directPages}, ${run.status}` +
                  (run.ms === null ? '' : ` ${(run.ms / 1000).toFixed(3)} s, ${fixed(run.gbps, 2)} GB/s, ratio ${fixed(run.ratio, 2)}`) +
                  (run.error ? ` (${run.error})` : ''),
              );
              runs.push(run);
            }
          }
        }
      }
      for (const destMemory of params.destMemory) {
        for (const directPages of params.directPages) {
          for (const destReads of params.destReads) {
            const name = `${image.name}${destReads === 'owned' ? '' : `+${destReads}`}`;
            const mine = runs.filter((run) => run.destMemory === destMemory && run.directPages === directPages && run.destReads === destReads);
            const plain = { ...summarise(image, destMemory, directPages, mine.filter((run) => !run.tls)), image: name };
            results.push(plain);
            if (tlsArgs !== undefined) {
              const overTls = summarise(image, destMemory, directPages, mine.filter((run) => run.tls));
              results.push({ ...overTls, image: `${name}+tls` });
              notes.push(`${name} (${destMemory} memory, direct pages ${directPages}): TLS/plain median GB/s ${fixed(ratio(overTls.gbps, plain.gbps), 3)} (same run, alternating)`);
            }
          }
          if (params.destReads.length > 1) notes.push(readsNote(image.name, destMemory, results.slice(-params.destReads.length * (tlsArgs ? 2 : 1)), params.destReads));
        }
        if (params.directPages.length === 2) notes.push(directPagesNote(image.name, destMemory, results));
      }
    }
    if (results.some((r) => r.runs.some((run) => run.timeField === 'totalTimeMs'))) {
      notes.push('the source report has no timeToCommitMs yet: times are its totalTimeMs (connect to commit plus the wait for activation)');
    }
    if (results.some((r) => r.runs.some((run) => run.sourceRssFrom === 'proc' || run.destRssFrom === 'proc'))) {
      notes.push('peak RSS missing from an agent report was taken from VmHWM in /proc/PID/status, sampled every 25 ms');
    }
    notes.push(...imageNotes(images));
    return { bench: 'stop-copy', machine: machine(), params, results, notes };
  } finally {
    await scratch.dispose();
  }
}

async function migrateOnce(
  image: PreparedImage,
  rep: number,
  {
    baseline,
    fresh,
    destMemory,
    destReads,
    directPages,
  }: { baseline: BaselineRun; fresh: BaselineRun; destMemory: DestMemory; destReads: DestReads; directPages: DirectPages },
  params: StopCopyParams,
  imageMode: boolean,
  scratch: Scratch,
  tlsArgs: string[] = [],
): Promise<StopCopyRun> {
  const tls = tlsArgs.length > 0;
  const name = `${rep}-${destMemory}-${destReads}-${directPages}${tls ? '-tls' : ''}`;
  const sourceReport = scratch.file(`source-${name}.json`);
  const destReport = scratch.file(`dest-${name}.json`);
  const { timeoutMs } = params;
  const dest = track(
    new NodeChild(
      'dest-agent',
      DEST_AGENT,
      [
        'listen', '--port', '0', '--once', '--run-for', '0', '--max-memory', String(2 * image.bytes), '--report', destReport,
        ...(destMemory === 'prefault' ? ['--prefault', String(image.bytes)] : []),
        ...tlsArgs,
      ],
      { timeoutMs, cwd: ROOT, env: { LIVEMIG_DEST_READS: destReads } },
    ),
  );
  const { error, source } = await runAgentPair(dest, (address) => {
    const guest = imageMode ? ['--image-file', image.path, '--paused'] : ['--memory', String(image.bytes), '--workload', 'idle'];
    return track(
      new NodeChild(
        'source-agent',
        SOURCE_AGENT,
        [
          'run',
          ...guest,
          '--migrate-to',
          address,
          '--migrate-after',
          '0',
          ...(params.streams === null ? [] : ['--streams', String(params.streams)]),
          ...(params.deltaCache === null ? [] : ['--delta-cache', params.deltaCache]),
          ...(params.compress === null ? [] : ['--compress', params.compress]),
          ...(directPages === 'off' ? ['--no-direct-pages'] : []),
          ...tlsArgs,
          ...(tls ? ['--tls-identity', BENCH_PSK_IDENTITY] : []),
          '--report',
          sourceReport,
        ],
        { timeoutMs, cwd: ROOT },
      ),
    );
  });
  const { src, dst } = await takeReports(sourceReport, destReport);

  const timeToCommit = num(src?.timeToCommitMs);
  const total = num(src?.totalTimeMs);
  const status = str(src?.status) ?? 'no report';
  const completed = status === 'completed' && error === null;
  const ms = completed ? (timeToCommit ?? total) : null;
  const gbps = ms === null ? null : gbPerSecond(image.bytes, ms);
  const sourceRss = num(src?.peakRssBytes);
  const destRss = num(dst?.peakRssBytes);
  return {
    rep,
    destMemory,
    destReads,
    directPages,
    tls,
    baselineMs: baseline.ms,
    baselineGbps: baseline.gbps,
    baselineConnections: baseline.connections,
    baselineFreshGbps: fresh.gbps,
    baselineFreshConnections: fresh.connections,
    status,
    error: error ?? (completed ? null : (str((src?.error as Record<string, unknown> | undefined)?.message) ?? null)),
    ms,
    timeField: ms === null ? null : timeToCommit !== null ? 'timeToCommitMs' : 'totalTimeMs',
    totalTimeMs: total,
    gbps,
    ratio: ratio(gbps, baseline.gbps),
    ratioFresh: ratio(gbps, fresh.gbps),
    bytesOnWire: num(src?.bytesOnWire),
    reportedImageBytes: num(src?.imageBytes),
    memoryBytes: num(src?.memoryBytes),
    pagesSent: src?.pagesSent ?? null,
    bytesByEncoding: src?.bytesByEncoding ?? null,
    sourcePeakRssBytes: sourceRss ?? source?.peakRssBytes ?? null,
    sourceRssFrom: sourceRss !== null ? 'report' : source?.peakRssBytes != null ? 'proc' : null,
    destPeakRssBytes: destRss ?? dest.peakRssBytes,
    destRssFrom: destRss !== null ? 'report' : dest.peakRssBytes !== null ? 'proc' : null,
    sourceCpuMs: num(src?.cpuMs),
    destCpuMs: num(dst?.cpuMs),
    destStatus: str(dst?.status),
  };
}

/** Direct over copied pages for one image: median time to commit and source CPU per GiB (same run, alternating). */
function directPagesNote(image: string, destMemory: DestMemory, results: StopCopyResult[]): string {
  const of = (form: DirectPages) => results.find((r) => r.image === image && r.destMemory === destMemory && r.directPages === form);
  const [on, off] = [of('on'), of('off')];
  return (
    `${image} (${destMemory} memory): direct/copied pages, median seconds ${fixed(ratio(on?.seconds ?? null, off?.seconds ?? null), 3)}, ` +
    `source CPU s/GiB ${fixed(ratio(on?.sourceCpuSecPerGiB ?? null, off?.sourceCpuSecPerGiB ?? null), 3)}, ` +
    `destination CPU s/GiB ${fixed(ratio(on?.destCpuSecPerGiB ?? null, off?.destCpuSecPerGiB ?? null), 3)} (same run, alternating)`
  );
}

function summarise(image: PreparedImage, destMemory: DestMemory, directPages: DirectPages, runs: StopCopyRun[]): StopCopyResult {
  const ok = runs.filter((r) => r.ms !== null);
  const wire = median(ok.map((r) => r.bytesOnWire));
  const destRss = median(ok.map((r) => r.destPeakRssBytes));
  const ms = median(ok.map((r) => r.ms));
  return {
    image: image.name,
    destMemory,
    directPages,
    imageBytes: image.bytes,
    reps: runs.length,
    completed: ok.length,
    seconds: ms === null ? null : ms / 1000,
    gbps: median(ok.map((r) => r.gbps)),
    bytesOnWire: wire,
    wirePercent: wire === null ? null : (100 * wire) / image.bytes,
    sourcePeakRssBytes: median(ok.map((r) => r.sourcePeakRssBytes)),
    destPeakRssBytes: destRss,
    destRssPerImage: ratio(destRss, image.bytes),
    sourceCpuSecPerGiB: cpuSecondsPerGiB(median(ok.map((r) => r.sourceCpuMs)), image.bytes),
    destCpuSecPerGiB: cpuSecondsPerGiB(median(ok.map((r) => r.destCpuMs)), image.bytes),
    baselineGbps: median(runs.map((r) => r.baselineGbps)),
    baselineFreshGbps: median(runs.map((r) => r.baselineFreshGbps)),
    ratio: median(ok.map((r) => r.ratio)),
    ratioFresh: median(ok.map((r) => r.ratioFresh)),
    runs,
  };
}

/** The first read path listed against each other one, plain TCP. */
function readsNote(image: string, destMemory: DestMemory, summaries: StopCopyResult[], paths: readonly DestReads[]): string {
  const of = (reads: DestReads) => summaries.find((r) => r.image === (reads === 'owned' ? image : `${image}+${reads}`));
  const [first, ...others] = paths;
  const base = of(first!);
  return others
    .map((reads) => {
      const other = of(reads);
      return (
        `${image} (${destMemory} memory, direct pages ${base?.directPages}), plain TCP, ${first} reads / ${reads} reads (same run, alternating): dest cpu s/GiB ${fixed(ratio(base?.destCpuSecPerGiB ?? null, other?.destCpuSecPerGiB ?? null), 3)}, ` +
        `dest peak RSS ${fixed(ratio(base?.destPeakRssBytes ?? null, other?.destPeakRssBytes ?? null), 3)}, seconds ${fixed(ratio(base?.seconds ?? null, other?.seconds ?? null), 3)}`
      );
    })
    .join('; ');
}

function cpuSecondsPerGiB(cpuMs: number | null, bytes: number): number | null {
  return cpuMs === null ? null : cpuMs / 1000 / (bytes / 2 ** 30);
}

export function formatStopCopy(output: BenchOutput<StopCopyParams, StopCopyResult>): string {
  const rows = output.results.map((r) => [
    r.image,
    r.destMemory,
    r.directPages,
    bytesOrDash(r.imageBytes),
    `${r.completed}/${r.reps}`,
    fixed(r.seconds, 3),
    fixed(r.gbps, 2),
    bytesOrDash(r.bytesOnWire),
    r.wirePercent === null ? '-' : `${r.wirePercent.toFixed(1)}%`,
    bytesOrDash(r.sourcePeakRssBytes),
    bytesOrDash(r.destPeakRssBytes),
    fixed(r.destRssPerImage, 2),
    fixed(r.sourceCpuSecPerGiB, 2),
    fixed(r.destCpuSecPerGiB, 2),
    fixed(r.baselineGbps, 2),
    fixed(r.baselineFreshGbps, 2),
    fixed(r.ratio, 2),
    fixed(r.ratioFresh, 2),
  ]);
  return table(
    ['image', 'dest mem', 'direct', 'size', 'ok', 'seconds', 'GB/s', 'on wire', 'wire %', 'src RSS', 'dest RSS', 'dest/img', 'src cpu s/GiB', 'dest cpu s/GiB', 'best base GB/s', 'best fresh GB/s', 'ratio', 'x fresh'],
    rows,
  );
}
