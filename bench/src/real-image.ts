/**
 * The `real` bench image: memory of real running programs. A few programs are started, left to build up their
 * heaps, and dumped with `gcore` (Debian's gdb package); the resident pages of the loaded segments (PT_LOAD with
 * bytes in the core file) of each core are concatenated page-aligned, in turns, up to the image size. The image
 * lives in the bench's scratch directory and is never kept.
 *
 * Only resident pages: a core holds every readable mapping, and most of a Node process's is address space it
 * reserved and never touched (malloc arenas of 64 MiB, thread stacks, V8's reservations: 86 % of a 1 GiB tsc
 * core here read as zero pages). Those pages are no memory at all, and a guest's RAM has no such pages, so they
 * would make the image mostly zero. Which pages are resident is read from /proc/PID/pagemap (present or
 * swapped) before gcore runs: gcore's own reads map untouched pages.
 */
import { execFile, spawn } from 'node:child_process';
import { open, readFile, rm } from 'node:fs/promises';
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

/** A PT_LOAD segment with bytes in a core file. */
interface Segment {
  offset: number;
  length: number;
  address: number;
}

/** Reads the PT_LOAD segments with bytes of an ELF64 little-endian core file. */
async function loadedSegments(core: string): Promise<Segment[]> {
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
    const segments: Segment[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      const filesz = Number(table.readBigUInt64LE(at + 32));
      if (table.readUInt32LE(at) !== 1 || filesz < PAGE_SIZE) continue;
      segments.push({ offset: Number(table.readBigUInt64LE(at + 8)), length: filesz - (filesz % PAGE_SIZE), address: Number(table.readBigUInt64LE(at + 16)) });
    }
    return segments;
  } finally {
    await file.close();
  }
}

/** A program's core file and the pages (addresses / PAGE_SIZE) it had resident when dumped. */
interface Dump {
  name: string;
  core: string;
  resident: Set<number>;
}

/** Pages of `pid`'s readable mappings that are present in memory or swapped out (/proc/PID/pagemap bits 63, 62). */
async function residentPages(pid: number): Promise<Set<number>> {
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
  const pagemap = await open(`/proc/${pid}/pagemap`, 'r');
  const resident = new Set<number>();
  try {
    for (const line of maps.split('\n')) {
      const [range, perms] = line.split(' ');
      if (!range || !perms?.startsWith('r')) continue;
      const [first, end] = range.split('-').map((hex) => Number.parseInt(hex, 16) / PAGE_SIZE) as [number, number];
      const entries = Buffer.alloc((end - first) * 8);
      await pagemap.read(entries, 0, entries.length, first * 8);
      for (let i = 0; i < end - first; i++) if ((entries.readUInt32LE(i * 8 + 4) & 0xc0000000) !== 0) resident.add(first + i);
    }
  } finally {
    await pagemap.close();
  }
  return resident;
}

/** Starts the programs, dumps each with gcore into `dir`, stops them. */
async function dumpPrograms(dir: string): Promise<Dump[]> {
  const children = PROGRAMS.map((p) => ({ name: p.name, child: spawn(p.command[0]!, p.command.slice(1), { cwd: ROOT, stdio: 'ignore' }) }));
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const dumps: Dump[] = [];
    for (const { name, child } of children) {
      if (child.pid === undefined || child.exitCode !== null) continue;
      const resident = await residentPages(child.pid);
      const prefix = `${dir}/core-${name}`;
      await run('gcore', ['-o', prefix, String(child.pid)], { maxBuffer: 16 * 1024 * 1024 });
      dumps.push({ name, core: `${prefix}.${child.pid}`, resident });
    }
    return dumps;
  } finally {
    for (const { child } of children) child.kill('SIGKILL');
  }
}

/** File offsets, in address order, of a core's pages that were resident. */
function residentOffsets(segments: Segment[], resident: Set<number>): number[] {
  const offsets: number[] = [];
  for (const { offset, length, address } of segments) {
    for (let at = 0; at < length; at += PAGE_SIZE) if (resident.has((address + at) / PAGE_SIZE)) offsets.push(offset + at);
  }
  return offsets;
}

/**
 * Writes the `real` image of `bytes` (a whole number of pages) to `path`, taking the programs' resident pages in
 * turns of 4 MiB so that every program is represented. Throws when gcore is missing or the programs had fewer
 * bytes resident than asked for.
 */
export async function writeRealImage(path: string, bytes: number, dir: string): Promise<RealImage> {
  const dumps = await dumpPrograms(dir);
  const TURN_PAGES = 1024;
  const out = await open(path, 'w');
  const sources: Record<string, number> = {};
  const counts = { zero: 0, sameByte: 0, compressible: 0, random: 0 };
  const writer = new PageBatchWriter();
  try {
    const readers = await Promise.all(
      dumps.map(async ({ name, core, resident }) => ({ name, file: await open(core, 'r'), pages: residentOffsets(await loadedSegments(core), resident), next: 0 })),
    );
    let written = 0;
    const chunk = Buffer.alloc(TURN_PAGES * PAGE_SIZE);
    while (written < bytes && readers.some((r) => r.next < r.pages.length)) {
      for (const reader of readers) {
        const count = Math.min(TURN_PAGES, reader.pages.length - reader.next, (bytes - written) / PAGE_SIZE);
        for (let k = 0; k < count; k++) await reader.file.read(chunk, k * PAGE_SIZE, PAGE_SIZE, reader.pages[reader.next + k]!);
        reader.next += count;
        const taken = count * PAGE_SIZE;
        for (let at = 0; at < taken; at += PAGE_SIZE) classify(chunk.subarray(at, at + PAGE_SIZE), counts, writer);
        await out.write(chunk, 0, taken, written);
        written += taken;
        sources[reader.name] = (sources[reader.name] ?? 0) + taken;
      }
    }
    await Promise.all(readers.map((r) => r.file.close()));
    if (written < bytes) throw new Error(`the programs had ${written} bytes resident, less than the ${bytes} asked for`);
  } finally {
    await out.close();
    await Promise.all(dumps.map(({ core }) => rm(core, { force: true })));
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
