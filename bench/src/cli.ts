/**
 * `node dist/cli.js NAME [--json] [options]`, or from the repository root `npm run bench -- NAME ...`.
 * Prints a table on stdout, or with --json one JSON object; progress goes to stderr.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseRate, parseSize } from '@livemig/agent-runtime';
import { access, formatAccess } from './access.js';
import type { WorkloadName } from '@livemig/guest';
import { barrier, BARRIER_WORKLOADS, formatBarrier } from './barrier.js';
import { baseline, formatBaseline } from './baseline-bench.js';
import { killAll } from './child.js';
import { confirmBench, formatConfirm } from './confirm.js';
import { encode, formatEncode } from './encode.js';
import { firstTouch, formatFirstTouch } from './first-touch.js';
import { CAMPAIGN_GUEST, CAMPAIGN_SOURCE, faultCampaign, faultKinds, formatFaults } from './faults.js';
import { REAL_IMAGE, Scratch, type BenchImage } from './image-set.js';
import { IMAGE_KINDS, isImageKind, type ImageKind } from './images.js';
import { formatFuzz, fuzz, newFuzzSeed } from './fuzz.js';
import { formatLive, live } from './live.js';
import { formatPostcopy, postcopyBench } from './postcopy.js';
import { formatPrepaging, prepaging } from './prepaging.js';
import { LINKS, formatLinks, links, type LinkName } from './links.js';
import { selectPolicies, selectWorkloads } from './live-cases.js';
import { progress, type BenchOutput } from './output.js';
import { benchFigures } from './charts/figures.js';
import { writeCharts } from './charts/write-charts.js';
import { formatSoftPages, softPages } from './soft-pages.js';
import { formatSoftPagesAfter, softPagesAfter } from './soft-pages-after.js';
import { DEST_MEMORIES, DEST_READS, DIRECT_PAGES, formatStopCopy, stopCopy, type DestMemory, type DestReads, type DirectPages } from './stop-copy.js';
import { formatTlsSetup, tlsSetup } from './tls-setup.js';
import { formatTracking, tracking, TRACKING_WORKLOADS } from './tracking.js';
import { UsageError, parsePositiveInt } from './units.js';
import { WS_SIZES, formatWorkingSet, workingSetBench } from './working-set.js';
import { removeLink } from './working-set-link.js';
import { USAGE } from './usage.js';

type AnyOutput = BenchOutput<unknown, unknown>;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      charts: { type: 'string' },
      size: { type: 'string' },
      reps: { type: 'string' },
      images: { type: 'string' },
      'image-file': { type: 'string' },
      streams: { type: 'string' },
      'delta-cache': { type: 'string' },
      compress: { type: 'string' },
      'dest-memory': { type: 'string' },
      'dest-reads': { type: 'string' },
      'direct-pages': { type: 'string' },
      links: { type: 'string' },
      'links-base': { type: 'string' },
      timeout: { type: 'string', default: '600' },
      connections: { type: 'string', default: '1,2,4' },
      guest: { type: 'string', default: 'image' },
      tls: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '1' },
      workloads: { type: 'string' },
      policies: { type: 'string' },
      anon: { type: 'string' },
      inputs: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      'downtime-limit': { type: 'string' },
      pings: { type: 'string', default: '200' },
      rate: { type: 'string' },
      'dirty-rate': { type: 'string' },
      'hot-bytes': { type: 'string' },
      'max-rounds': { type: 'string' },
      'ws-preprocess': { type: 'string' },
      sizes: { type: 'string' },
      bandwidth: { type: 'string', default: '100MB/s' },
      runs: { type: 'string', default: '100' },
      stall: { type: 'string', default: '5000-70000' },
      kinds: { type: 'string' },
      workload: { type: 'string', default: 'hotcold' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals[0];
  if (values.help || name === undefined) {
    process.stdout.write(USAGE);
    return name === undefined && !values.help ? 2 : 0;
  }
  if (positionals.length > 1) throw new UsageError(`one benchmark at a time, got ${positionals.join(' ')}`);
  const reps = parsePositiveInt(values.reps ?? (name === 'live' || name === 'working-set' ? '3' : name === 'soft-pages' ? '1' : '5'), 'reps');
  const timeoutMs = parsePositiveInt(values.timeout, 'timeout') * 1000;
  const connections = values.connections.split(',').map((n) => parsePositiveInt(n.trim(), 'connections'));
  const kinds = (fallback: ImageKind[]): BenchImage[] => {
    if (values.images === undefined) return fallback;
    const list = values.images.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const kind of list) {
      if (!isImageKind(kind) && kind !== REAL_IMAGE) throw new UsageError(`--images: unknown image "${kind}" (${[...IMAGE_KINDS, REAL_IMAGE].join(', ')})`);
    }
    return list as BenchImage[];
  };

  let output: AnyOutput;
  let text: string;
  switch (name) {
    case 'baseline': {
      const images = kinds(['random']);
      const size = parseSize(values.size ?? '1GiB', 'size');
      const out = await baseline({ size, reps, images, connections, timeoutMs }, values['image-file'], images);
      [output, text] = [out as AnyOutput, formatBaseline(out)];
      break;
    }
    case 'stop-copy': {
      const images = kinds([...IMAGE_KINDS]);
      const size = parseSize(values.size ?? '1GiB', 'size');
      const streams = values.streams === undefined ? null : parsePositiveInt(values.streams, 'streams');
      const deltaCache = values['delta-cache'] ?? null;
      const guest = values.guest;
      if (guest !== 'image' && guest !== 'idle') throw new UsageError(`--guest: expected image or idle, got "${guest}"`);
      const destMemory = (values['dest-memory'] ?? 'fresh').split(',').map((m) => m.trim());
      for (const m of destMemory) if (!(DEST_MEMORIES as readonly string[]).includes(m)) throw new UsageError(`--dest-memory: unknown "${m}" (${DEST_MEMORIES.join(', ')})`);
      const destReads = (values['dest-reads'] ?? 'owned').split(',').map((m) => m.trim());
      for (const m of destReads) if (!(DEST_READS as readonly string[]).includes(m)) throw new UsageError(`--dest-reads: unknown "${m}" (${DEST_READS.join(', ')})`);
      const directPages = (values['direct-pages'] ?? 'on').split(',').map((m) => m.trim());
      for (const m of directPages) if (!(DIRECT_PAGES as readonly string[]).includes(m)) throw new UsageError(`--direct-pages: unknown "${m}" (${DIRECT_PAGES.join(', ')})`);
      const out = await stopCopy(
        { size, reps, images, streams, deltaCache, compress: values.compress ?? null, guest, destMemory: destMemory as DestMemory[], destReads: destReads as DestReads[], tls: values.tls, directPages: directPages as DirectPages[], connections, timeoutMs },
        values['image-file'],
        images,
      );
      [output, text] = [out as AnyOutput, formatStopCopy(out)];
      break;
    }
    case 'encode': {
      const size = parseSize(values.size ?? '256MiB', 'size');
      const out = encode({ size, reps });
      [output, text] = [out as AnyOutput, formatEncode(out)];
      break;
    }
    case 'tracking': {
      const size = parseSize(values.size ?? '256MiB', 'size');
      const seconds = Number(values.seconds);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--seconds: expected a positive number, got "${values.seconds}"`);
      const params = { size, vcpus: 2, reps, seconds, sliceMs: 250, warmupMs: 300, harvestEveryMs: 50, workloads: [...TRACKING_WORKLOADS] };
      const out = await tracking(params);
      [output, text] = [out as AnyOutput, formatTracking(out)];
      break;
    }
    case 'barrier': {
      const size = parseSize(values.size ?? '256MiB', 'size');
      const seconds = Number(values.seconds);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--seconds: expected a positive number, got "${values.seconds}"`);
      const workloads = values.workloads === undefined ? [...BARRIER_WORKLOADS] : values.workloads.split(',').map((w) => w.trim());
      for (const w of workloads) if (!(BARRIER_WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`--workloads: "${w}" is not one of ${BARRIER_WORKLOADS.join(', ')}`);
      const out = await barrier({ size, vcpus: 2, reps, seconds, sliceMs: 250, warmupMs: 300, workloads: workloads as WorkloadName[] });
      [output, text] = [out as AnyOutput, formatBarrier(out)];
      break;
    }
    case 'postcopy': {
      const out = await postcopyBench({ reps, migrateAfter: '2s', timeoutMs });
      [output, text] = [out as AnyOutput, formatPostcopy(out)];
      break;
    }
    case 'prepaging': {
      const size = parseSize(values.size ?? '256MiB', 'size');
      const bytesPerSec = parseRate(values.bandwidth, 'bandwidth');
      const workload = values.workload;
      if (!(BARRIER_WORKLOADS as readonly string[]).includes(workload)) throw new UsageError(`--workload: "${workload}" is not one of ${BARRIER_WORKLOADS.join(', ')}`);
      const params = { size, vcpus: 2, reps, workload: workload as WorkloadName, sourceRunMs: 2000, bytesPerSec, roundTripMs: 0.2, tickMs: 1 };
      const out = await prepaging(params);
      [output, text] = [out as AnyOutput, formatPrepaging(out)];
      break;
    }
    case 'live': {
      const workloads = selectWorkloads(values.workloads);
      const policies = selectPolicies(values.policies);
      const out = await live({ reps, workloads, policies, downtimeLimit: values['downtime-limit'] ?? null, timeoutMs });
      [output, text] = [out as AnyOutput, formatLive(out)];
      break;
    }
    case 'links': {
      const images = kinds(['mixed']);
      const size = parseSize(values.size ?? '64MiB', 'size');
      const names = LINKS.map((l) => l.name) as string[];
      const list = values.links === undefined ? names : values.links.split(',').map((l) => l.trim());
      for (const l of list) if (!names.includes(l)) throw new UsageError(`--links: unknown link "${l}" (${names.join(', ')})`);
      const base = values['links-base'] === undefined ? null : resolve(values['links-base']);
      const out = await links({ size, reps, images, links: list as LinkName[], timeoutMs, base }, values['image-file'], images);
      [output, text] = [out as AnyOutput, formatLinks(out)];
      break;
    }
    case 'first-touch': {
      const size = parseSize(values.size ?? '1GiB', 'size');
      const out = await firstTouch({ size, reps, timeoutMs });
      [output, text] = [out as AnyOutput, formatFirstTouch(out)];
      break;
    }
    case 'confirm': {
      const pings = parsePositiveInt(values.pings, 'pings');
      const out = await confirmBench({ reps, memory: '32MiB', workload: 'hotcold', migrateAfter: '500ms', pings, timeoutMs });
      [output, text] = [out as AnyOutput, formatConfirm(out)];
      break;
    }
    case 'access': {
      const size = parseSize(values.size ?? '256MiB', 'size');
      const out = await access({ size, vcpus: 2, pairs: reps * 12 + 6, warmupPairs: 6, windowMs: 100 });
      [output, text] = [out as AnyOutput, formatAccess(out)];
      break;
    }
    case 'working-set': {
      const size = parseSize(values.size ?? '128MiB', 'size');
      const rateBytesPerSec = parseRate(values.rate ?? '5.625MB/s', 'rate');
      const sizes = (values.sizes ?? WS_SIZES.join(',')).split(',').map((text) => {
        const n = Number(text.trim());
        if (!Number.isSafeInteger(n) || n < 0 || text.trim() === '') throw new UsageError(`--sizes: expected pages >= 0, got "${text}"`);
        return n;
      });
      const maxRounds = parsePositiveInt(values['max-rounds'] ?? '30', 'max-rounds');
      const dirtyRate = values['dirty-rate'] ?? '2MiB';
      const hotBytes = values['hot-bytes'] ?? '4MiB';
      const preprocess = values['ws-preprocess'] ?? '1s';
      const params = { size, rateBytesPerSec, reps, sizes, dirtyRate, hotBytes, maxRounds, preprocess, migrateAfter: '2s', timeoutMs };
      const out = await workingSetBench(params);
      [output, text] = [out as AnyOutput, formatWorkingSet(out)];
      break;
    }
    case 'soft-pages': {
      const memoryBytes = parseSize(values.size ?? '1GiB', 'size');
      const scale = memoryBytes / 2 ** 30;
      const anonSizes = values.anon === undefined
        ? [64, 512, 900].map((mib) => Math.floor((mib * scale) / 64) * 64 * 2 ** 20 || 2 ** 20)
        : values.anon.split(',').map((s) => parseSize(s.trim(), 'anon'));
      const cacheBytes = Math.floor((memoryBytes * 3) / 4 / 4096) * 4096;
      const out = await softPages({ memoryBytes, cacheBytes, anonSizes, reps, settleMs: 2000, afterMs: 5000, timeoutMs });
      [output, text] = [out as AnyOutput, formatSoftPages(out)];
      break;
    }
    case 'soft-pages-after': {
      const memoryBytes = parseSize(values.size ?? '256MiB', 'size');
      const cacheBytes = Math.floor((memoryBytes * 3) / 4 / 4096) * 4096;
      const anonBytes = values.anon === undefined ? Math.floor(memoryBytes / 16) : parseSize(values.anon, 'anon');
      const blocks = cacheBytes / 4096;
      const out = await softPagesAfter({ memoryBytes, cacheBytes, anonBytes, reps, settleOps: blocks, afterOps: 4 * blocks, windowMs: 100 });
      [output, text] = [out as AnyOutput, formatSoftPagesAfter(out)];
      break;
    }
    case 'tls-setup': {
      const out = await tlsSetup({ reps, timeoutMs });
      [output, text] = [out as AnyOutput, formatTlsSetup(out)];
      break;
    }
    case 'fuzz': {
      const inputs = parsePositiveInt(values.inputs, 'inputs');
      const seed = values.seed === undefined ? newFuzzSeed() : parsePositiveInt(values.seed, 'seed');
      const out = await fuzz({ inputs, seed, timeoutMs });
      [output, text] = [out as AnyOutput, formatFuzz(out)];
      break;
    }
    case 'faults': {
      const seed = values.seed === undefined ? Date.now() % 1_000_000 : parsePositiveInt(values.seed, 'seed');
      const stall = /^(\d+)-(\d+)$/.exec(values.stall);
      if (!stall || Number(stall[1]) > Number(stall[2])) throw new UsageError(`--stall: expected LOW-HIGH in ms, got "${values.stall}"`);
      const out = await faultCampaign({
        runs: parsePositiveInt(values.runs, 'runs'),
        seed,
        kinds: faultKinds(values.kinds),
        stallMs: [Number(stall[1]), Number(stall[2])],
        guestArgs: CAMPAIGN_GUEST,
        sourceArgs: CAMPAIGN_SOURCE,
        streams: 2,
        timeoutMs,
        settleMs: 90_000,
      });
      [output, text] = [out as AnyOutput, formatFaults(out)];
      break;
    }
    default:
      throw new UsageError(`unknown benchmark "${name}"\n\n${USAGE}`);
  }
  const json = `${JSON.stringify(output, null, values.json ? 2 : undefined)}\n`;
  if (values.out !== undefined) await writeFile(values.out, json);
  if (values.charts !== undefined) {
    const files = await writeCharts(values.charts, output.bench, benchFigures(output.bench, output.results));
    for (const file of files) progress(`chart ${file}`);
  }
  if (values.json) {
    process.stdout.write(json);
  } else {
    process.stdout.write(`${output.bench}: ${output.machine.cpus} x ${output.machine.model}, node ${output.machine.node}, load ${output.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}\n\n${text}\n`);
    for (const note of output.notes) process.stdout.write(`\nnote: ${note}`);
    process.stdout.write(output.notes.length > 0 ? '\n' : '');
  }
  return 0;
}

function interrupted(signal: NodeJS.Signals): void {
  killAll();
  removeLink();
  Scratch.disposeAllSync();
  process.stderr.write(`bench: ${signal}, stopped\n`);
  process.exit(130);
}
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  killAll();
  // LM_ERR_BAD_ARGUMENT: a size the agents' parser (parseSize) could not read.
  const code = (error as { code?: string }).code;
  const usage = error instanceof UsageError || code === 'LM_ERR_BAD_ARGUMENT' || code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = usage ? 2 : 1;
}
