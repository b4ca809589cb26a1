/**
 * The `real` bench image: memory of real running programs. A few programs are started, left to build up their
 * heaps, and dumped with `gcore` (Debian's gdb package); the loaded segments (PT_LOAD with bytes in the core
 * file) of each core are concatenated page-aligned, in turns, up to the image size. The image lives in the
 * bench's scratch directory and is never kept.
 */
import { execFile, spawn } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { PAGE_SIZE, PageBatchWriter, PageEncoding } from '@livemig/protocol';
import { ROOT } from './agents.js';

const run = promisify(execFile);

/** The programs dumped: the TypeScript compiler watching a package of this repository, and Python holding its library's sources compiled. */
const PROGRAMS: { name: string; command: string[] }[] = [
  { name: 'tsc', command: [process.execPath, 'node_modules/typescript/lib/tsc.js', '-p', 'packages/source-agent', '--noEmit', '--watch', '--preserveWatchOutput'] },
  {
    // Python's own library sources read, compiled and kept: text, bytecode and interpreter objects.
    name: 'python3',
    command: [
      'python3',
      '-c',
      "import glob, sys, time, json, email, decimal, http.server\nsources = {}\nfor p in glob.glob(sys.prefix + '/lib/python3*/**/*.py', recursive=True)[:4000]:\n    try:\n        text = open(p, encoding='utf-8', errors='replace').read()\n        sources[p] = (text, compile(text, p, 'exec'))\n    except Exception:\n        pass\ntime.sleep(120)",
    ],
  },
];

/** How long each program runs before it is dumped. */
const SETTLE_MS = 6000;

export interface PageFractions {
  zero: number;
  /** One repeated non-zero byte. */
  sameByte: number;
  /** The source's encoder sends the page lz4-compressed (alone, smaller than a Raw entry). */
  compressible: number;
  /** The rest: sent Raw (the encoder's sample says random, or lz4 finds too little). */
  random: number;
}

export interface RealImage {
  bytes: number;
  /** Bytes each program's core gave. */
  sources: Record<string, number>;
  fractions: PageFractions;
}

/** Reads the PT_LOAD segments with bytes of an ELF64 little-endian core file: [offset, length] each. */
async function loadedSegments(core: string): Promise<[number, number][]> {
  const file = await open(core, 'r');
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) throw new Error(`${core}: not an ELF64 little-endian file`);
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const segments: [number, number][] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      const filesz = Number(table.readBigUInt64LE(at + 32));
      if (table.readUInt32LE(at) === 1 && filesz >= PAGE_SIZE) segments.push([Number(table.readBigUInt64LE(at + 8)), filesz - (filesz % PAGE_SIZE)]);
    }
    return segments;
  } finally {
    await file.close();
  }
}

/** Starts the programs, dumps each with gcore into `dir`, stops them; returns [program, core path] pairs. */
async function dumpPrograms(dir: string): Promise<[string, string][]> {
  const children = PROGRAMS.map((p) => ({ name: p.name, child: spawn(p.command[0]!, p.command.slice(1), { cwd: ROOT, stdio: 'ignore' }) }));
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const cores: [string, string][] = [];
    for (const { name, child } of children) {
      if (child.pid === undefined || child.exitCode !== null) continue;
      const prefix = `${dir}/core-${name}`;
      await run('gcore', ['-o', prefix, String(child.pid)], { maxBuffer: 16 * 1024 * 1024 });
      cores.push([name, `${prefix}.${child.pid}`]);
    }
    return cores;
  } finally {
    for (const { child } of children) child.kill('SIGKILL');
  }
}

/**
 * Writes the `real` image of `bytes` (a whole number of pages) to `path`, taking the programs' loaded segments
 * in turns of 4 MiB so that every program is represented. Throws when gcore is missing or the cores hold fewer
 * bytes than asked for.
 */
export async function writeRealImage(path: string, bytes: number, dir: string): Promise<RealImage> {
  const cores = await dumpPrograms(dir);
  const TURN = 4 * 1024 * 1024;
  const out = await open(path, 'w');
  const sources: Record<string, number> = {};
  const counts = { zero: 0, sameByte: 0, compressible: 0, random: 0 };
  const writer = new PageBatchWriter();
  try {
    const readers = await Promise.all(cores.map(async ([name, core]) => ({ name, core, file: await open(core, 'r'), segments: await loadedSegments(core), segment: 0, offset: 0 })));
    let written = 0;
    const chunk = Buffer.alloc(TURN);
    while (written < bytes && readers.some((r) => r.segment < r.segments.length)) {
      for (const reader of readers) {
        let taken = 0;
        while (taken < TURN && written + taken < bytes && reader.segment < reader.segments.length) {
          const [start, length] = reader.segments[reader.segment]!;
          const n = Math.min(length - reader.offset, TURN - taken, bytes - written - taken);
          await reader.file.read(chunk, taken, n, start + reader.offset);
          taken += n;
          reader.offset += n;
          if (reader.offset === length) [reader.segment, reader.offset] = [reader.segment + 1, 0];
        }
        for (let at = 0; at < taken; at += PAGE_SIZE) classify(chunk.subarray(at, at + PAGE_SIZE), counts, writer);
        await out.write(chunk, 0, taken, written);
        written += taken;
        sources[reader.name] = (sources[reader.name] ?? 0) + taken;
      }
    }
    await Promise.all(readers.map((r) => r.file.close()));
    if (written < bytes) throw new Error(`the programs' cores hold ${written} bytes of loaded segments, less than the ${bytes} asked for`);
  } finally {
    await out.close();
    await Promise.all(cores.map(([, core]) => rm(core, { force: true })));
  }
  const pages = bytes / PAGE_SIZE;
  const fractions: PageFractions = {
    zero: counts.zero / pages,
    sameByte: counts.sameByte / pages,
    compressible: counts.compressible / pages,
    random: counts.random / pages,
  };
  return { bytes, sources, fractions };
}

/** Counts `page` under the encoding the source's PageBatchWriter gives it (one page at a time, lz4). */
function classify(page: Buffer, counts: Record<keyof PageFractions, number>, writer: PageBatchWriter): void {
  let encoding = writer.add(0, page);
  if (encoding === undefined) {
    writer.takeFrame();
    encoding = writer.add(0, page)!;
  }
  const kind = encoding === PageEncoding.Zero ? 'zero' : encoding === PageEncoding.SameByte ? 'sameByte' : encoding === PageEncoding.Raw ? 'random' : 'compressible';
  counts[kind] += 1;
}
