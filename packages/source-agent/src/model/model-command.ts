import { BadArgumentError } from '@livemig/protocol';
import { PAGE_SIZE } from '@livemig/guest';
import { parseDuration, parseRate, parseSize } from '@livemig/agent-runtime';
import { DEFAULT_MAX_ROUNDS } from '../outgoing/options.js';
import { evaluateModel, type ModelInput, type ModelResult } from './migration-model.js';

export interface ModelArguments {
  memory: string;
  bandwidth: string;
  dirtyPages: string;
  workingSet?: number;
  wsPreprocess?: string;
  maxRounds?: number;
  json: boolean;
}

/** Reads "512/s" or "512" (pages per second). @throws BadArgumentError */
function parsePagesPerSecond(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/s)?\s*$/i.exec(String(text));
  if (!match) throw new BadArgumentError(`--dirty-pages: cannot read "${text}" as pages per second (e.g. 512/s)`);
  return Number(match[1]);
}

function requireCount(value: number | undefined, flag: string, fallback: number, min: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < min) throw new BadArgumentError(`--${flag}: expected an integer >= ${min}, got ${n}`);
  return n;
}

/**
 * The model's input from the command line.
 * @throws BadArgumentError naming the first flag whose value is wrong
 */
export function modelInputFromArguments(args: ModelArguments): ModelInput {
  const memoryBytes = parseSize(args.memory, 'memory');
  const memoryPages = Math.floor(memoryBytes / PAGE_SIZE);
  if (memoryPages < 1) throw new BadArgumentError(`--memory: expected at least one ${PAGE_SIZE}-byte page, got ${args.memory}`);
  const bandwidthBytesPerSec = parseRate(args.bandwidth, 'bandwidth');
  if (!(bandwidthBytesPerSec > 0)) throw new BadArgumentError(`--bandwidth: expected a rate > 0, got ${args.bandwidth}`);
  const workingSetPages = requireCount(args.workingSet, 'working-set', 0, 0);
  if (workingSetPages >= memoryPages) {
    throw new BadArgumentError(`--working-set: expected fewer pages than the memory's ${memoryPages}, got ${workingSetPages}`);
  }
  return {
    pageBytes: PAGE_SIZE,
    memoryPages,
    bandwidthBytesPerSec,
    dirtyPagesPerSec: parsePagesPerSecond(args.dirtyPages),
    workingSetPages,
    preprocessSec: parseDuration(args.wsPreprocess ?? 0, 'ws-preprocess') / 1000,
    maxRounds: requireCount(args.maxRounds, 'max-rounds', DEFAULT_MAX_ROUNDS, 1),
  };
}

/** Plain pre-copy, and the framework when a working set is given. */
export function modelBoth(input: ModelInput): { preCopy: ModelResult; framework: ModelResult | null } {
  return {
    preCopy: evaluateModel({ ...input, workingSetPages: 0 }),
    framework: input.workingSetPages > 0 ? evaluateModel(input) : null,
  };
}

const s = (seconds: number): string => `${seconds.toFixed(3)} s`;

function describe(name: string, r: ModelResult): string[] {
  const lines = [`${name}: ${r.pushRounds} push rounds${r.converged ? '' : ' (round bound reached: M_n <= W_M never met)'}`];
  for (const round of r.rounds) lines.push(`  T_${round.round}  ${s(round.seconds).padStart(12)}  ${Math.round(round.pages)} pages`);
  if (r.framework) lines.push(`  T_pre   ${s(r.preprocessSec)}`);
  lines.push(`  T_stop  ${s(r.stopSec)}  ${Math.round(r.stopPages)} pages`, `  T_total ${s(r.totalSec)}  ${Math.round(r.totalPages)} pages`);
  return lines;
}

/** `source-agent model ...`: prints the model's figures; returns the exit status. */
export function modelCommand(args: ModelArguments, write: (text: string) => void = (t) => process.stdout.write(t)): number {
  const input = modelInputFromArguments(args);
  const both = modelBoth(input);
  if (args.json) {
    write(`${JSON.stringify({ input, ...both })}\n`);
    return 0;
  }
  const lines = [
    `M ${input.memoryPages} pages, P ${input.pageBytes} B, B ${input.bandwidthBytesPerSec} B/s, W_M ${input.dirtyPagesPerSec} pages/s, W_S ${input.workingSetPages} pages`,
    ...describe('pre-copy', both.preCopy),
  ];
  if (both.framework) {
    const saved = both.preCopy.totalSec - both.framework.totalSec;
    lines.push(...describe('framework', both.framework), `framework saves ${s(saved)} of total time (${((saved / both.preCopy.totalSec) * 100).toFixed(1)} %)`);
  }
  write(`${lines.join('\n')}\n`);
  return 0;
}
