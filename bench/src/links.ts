import { DEST_AGENT, ROOT, SOURCE_AGENT, firstLine, runAgentPair } from './agents.js';
import { runBaseline, type BaselineNet } from './baseline.js';
import { NodeChild, track } from './child.js';
import { Scratch, imageNotes, prepareImages, type BenchImage, type PreparedImage } from './image-set.js';
import { ADDRESS_B, withLinkNamespaces, type LinkNet } from './link-namespaces.js';
import { bytesOrDash, fixed, machine, progress, table, type BenchOutput } from './output.js';
import { num, str, takeReports } from './report-file.js';
import { median, ratio } from './stats.js';
import { join } from 'node:path';

/** The links: plain loopback, and the veth pair between two namespaces limited by tbf. */
export const LINKS = [
  { name: 'loopback', mbit: null },
  { name: '10gbit', mbit: 10_000 },
  { name: '1gbit', mbit: 1_000 },
  { name: '100mbit', mbit: 100 },
] as const;
export type LinkName = (typeof LINKS)[number]['name'];
export const LINK_MODES = ['auto', 'none', 'lz4', 'zstd'] as const;

export interface LinksParams {
  size: number;
  reps: number;
  images: string[];
  links: LinkName[];
  timeoutMs: number;
  /** A built checkout whose agents also migrate with `--compress auto` (`auto@base`): before and after in one run. */
  base: string | null;
}

/** Where a migration's agents come from: this checkout, or the base's. */
interface Agents {
  root: string;
  source: string;
  dest: string;
}
const THIS_CHECKOUT: Agents = { root: ROOT, source: SOURCE_AGENT, dest: DEST_AGENT };
const BASE_AUTO = 'auto@base';

function agentsAt(root: string): Agents {
  return { root, source: join(root, 'packages/source-agent/bin/source-agent.js'), dest: join(root, 'packages/dest-agent/bin/dest-agent.js') };
}

/** One transfer: the raw push or one migration under a --compress mode. */
export interface LinkRun {
  rep: number;
  ms: number | null;
  bytesOnWire: number | null;
  /** Page batches per compression over every round (migrations only). */
  batches: Record<string, number> | null;
  sourceCpuMs: number | null;
  destCpuMs: number | null;
  error: string | null;
}

export interface LinkResult {
  image: string;
  link: LinkName;
  /** `raw push` or the --compress mode. */
  what: string;
  /** Medians over repetitions. */
  seconds: number | null;
  bytesOnWire: number | null;
  wirePercent: number | null;
  /** Median over repetitions of this time over the raw push's time on the same link in the same repetition. */
  perRawPush: number | null;
  runs: LinkRun[];
}

/**
 * Per link and image: the raw push and one migration per --compress mode, alternating within each repetition (so
 * they share the machine's noise), time to commit and bytes on the wire. The namespaces are made and removed
 * by the bench, also when it fails.
 */
export async function links(params: LinksParams, imageFile: string | undefined, kinds: BenchImage[]): Promise<BenchOutput<LinksParams, LinkResult>> {
  const scratch = await Scratch.create();
  try {
    const images = await prepareImages(scratch, kinds, params.size, imageFile);
    const runs = new Map<string, LinkRun[]>();
    const key = (image: string, link: string, what: string): string => `${image}|${link}|${what}`;
    const add = (k: string, run: LinkRun): void => void runs.set(k, [...(runs.get(k) ?? []), run]);
    const whats: string[] = params.base === null ? [...LINK_MODES] : [BASE_AUTO, ...LINK_MODES];
    await withLinkNamespaces(async (net) => {
      for (let rep = 1; rep <= params.reps; rep++) {
        for (const link of LINKS.filter((l) => params.links.includes(l.name))) {
          net.setRate(link.mbit);
          const where = link.mbit === null ? null : net;
          for (const image of images) {
            const push = await rawPush(image, rep, where, params.timeoutMs);
            add(key(image.name, link.name, 'raw push'), push);
            progress(`${link.name} ${image.name} rep ${rep}: raw push ${fixed(push.ms, 0)} ms${push.error ? ` (${push.error})` : ''}`);
            for (const what of whats) {
              const [mode, agents] = what === BASE_AUTO ? ['auto', agentsAt(params.base!)] : [what, THIS_CHECKOUT];
              const run = await migrate(image, rep, mode, where, scratch, params.timeoutMs, agents);
              add(key(image.name, link.name, what), run);
              progress(`${link.name} ${image.name} rep ${rep}: ${what} ${fixed(run.ms, 0)} ms, ${bytesOrDash(run.bytesOnWire)}${run.error ? ` (${run.error})` : ''}`);
            }
          }
        }
      }
    });
    const results: LinkResult[] = [];
    for (const link of LINKS.filter((l) => params.links.includes(l.name))) {
      for (const image of images) {
        const pushes = runs.get(key(image.name, link.name, 'raw push')) ?? [];
        for (const what of ['raw push', ...whats]) {
          const list = runs.get(key(image.name, link.name, what)) ?? [];
          const ms = median(list.map((r) => r.ms));
          const wire = median(list.map((r) => r.bytesOnWire));
          results.push({
            image: image.name,
            link: link.name,
            what,
            seconds: ms === null ? null : ms / 1000,
            bytesOnWire: wire,
            wirePercent: wire === null ? null : (100 * wire) / image.bytes,
            perRawPush: median(list.map((r) => ratio(r.ms, pushes.find((p) => p.rep === r.rep)?.ms ?? null))),
            runs: list,
          });
        }
      }
    }
    const notes = [
      `links: veth pair between network namespaces, tbf on both ends; loopback: 127.0.0.1 without namespaces`,
      'raw push: two processes move the image bytes with no processing into pre-touched memory (bench baseline); migrations: paused image, time to commit',
    ];
    notes.push(...imageNotes(images));
    return { bench: 'links', machine: machine(), params, results, notes };
  } finally {
    await scratch.dispose();
  }
}

async function rawPush(image: PreparedImage, rep: number, net: LinkNet | null, timeoutMs: number): Promise<LinkRun> {
  const where: BaselineNet | undefined = net ? { host: ADDRESS_B, receiverWrap: net.inB, senderWrap: net.inA } : undefined;
  try {
    const run = await runBaseline(image.path, image.bytes, timeoutMs, 'touched', where);
    return { rep, ms: run.ms, bytesOnWire: image.bytes, batches: null, sourceCpuMs: null, destCpuMs: null, error: null };
  } catch (e) {
    return { rep, ms: null, bytesOnWire: null, batches: null, sourceCpuMs: null, destCpuMs: null, error: firstLine(e) };
  }
}

async function migrate(image: PreparedImage, rep: number, mode: string, net: LinkNet | null, scratch: Scratch, timeoutMs: number, agents: Agents): Promise<LinkRun> {
  const label = agents === THIS_CHECKOUT ? mode : `${mode}-base`;
  const sourceReport = scratch.file(`links-source-${rep}-${label}.json`);
  const destReport = scratch.file(`links-dest-${rep}-${label}.json`);
  const { root, source, dest: destAgent } = agents;
  const host = net ? ADDRESS_B : '127.0.0.1';
  const dest = track(
    // Between the namespaces the destination listens on a non-loopback address: plain TCP there needs --insecure.
    new NodeChild('dest-agent', destAgent, ['listen', '--host', host, '--port', '0', '--once', '--run-for', '0', '--max-memory', String(2 * image.bytes), '--report', destReport, ...(net ? ['--insecure'] : [])], {
      timeoutMs,
      cwd: root,
      ...(net ? { wrap: net.inB } : {}),
    }),
  );
  const { error } = await runAgentPair(dest, (address) => {
    const args = ['run', '--image-file', image.path, '--paused', '--compress', mode, '--migrate-to', address, '--migrate-after', '0', '--report', sourceReport];
    return track(new NodeChild('source-agent', source, args, { timeoutMs, cwd: root, ...(net ? { wrap: net.inA } : {}) }));
  });
  const { src, dst } = await takeReports(sourceReport, destReport);
  const completed = str(src?.status) === 'completed' && error === null;
  const batches: Record<string, number> = {};
  for (const round of (src?.rounds as { batches?: Record<string, number> }[] | undefined) ?? []) {
    for (const [c, n] of Object.entries(round.batches ?? {})) batches[c] = (batches[c] ?? 0) + n;
  }
  return {
    rep,
    ms: completed ? num(src?.timeToCommitMs) : null,
    bytesOnWire: num(src?.bytesOnWire),
    batches,
    sourceCpuMs: num(src?.cpuMs),
    destCpuMs: num(dst?.cpuMs),
    error: error ?? (completed ? null : (str(src?.status) ?? 'no report')),
  };
}

export function formatLinks(output: BenchOutput<LinksParams, LinkResult>): string {
  return table(
    ['link', 'image', 'what', 'ok', 'seconds', 'on wire', 'wire %', 'x raw push', 'batches none/lz4/zstd (of zstd at 3/6/9), last rep'],
    output.results.map((r) => {
      const last = r.runs.at(-1)?.batches;
      return [
        r.link,
        r.image,
        r.what,
        `${r.runs.filter((x) => x.ms !== null).length}/${r.runs.length}`,
        fixed(r.seconds, 3),
        bytesOrDash(r.bytesOnWire),
        r.wirePercent === null ? '-' : `${r.wirePercent.toFixed(1)}%`,
        fixed(r.perRawPush, 2),
        last ? `${last.none ?? 0}/${last.lz4 ?? 0}/${last.zstd ?? 0}${last.zstd3 || last.zstd6 || last.zstd9 ? ` (${last.zstd3 ?? 0}/${last.zstd6 ?? 0}/${last.zstd9 ?? 0})` : ''}` : '-',
      ];
    }),
  );
}
