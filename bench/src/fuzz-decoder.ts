import { FrameDecoder, FrameType, PAGE_SIZE, readPageBatch, type Frame, type PageBatchSink } from '@livemig/protocol';
import { FUZZ_GUEST_PAGES, sampleBlock, streamInput } from './fuzz-inputs.js';

/** An input that broke a rule, with what replays it. */
export interface FuzzFinding {
  target: string;
  seed: number;
  block: number;
  index: number;
  problem: string;
  /** The input's first 64 bytes in hex, and its length. */
  head: string;
  bytes: number;
}

export interface DecoderFuzzResult {
  target: 'decoder';
  inputs: number;
  framesDecoded: number;
  pagesApplied: number;
  /** Inputs that ended with a typed error, by its code; "none" for inputs that decoded cleanly. */
  outcomes: Record<string, number>;
  /** Inputs whose outcome differed when fed in two chunks instead of one. */
  splitMismatches: number;
  untypedErrors: number;
  maxInputMs: number;
  ms: number;
  findings: FuzzFinding[];
}

/** At most this many findings are kept per target (their count is in the totals). */
export const MAX_FINDINGS = 20;

/** What became of one stream: frames decoded, pages applied, and the error's code (null: none). */
interface Outcome {
  frames: number;
  pages: number;
  code: string | null;
  untyped: string | null;
}

/**
 * The decoder in-process: each input through a FrameDecoder and every PageBatch it yields through
 * readPageBatch into a 16-page guest, once whole and once split in two at an input-derived offset. A decode
 * may only end cleanly or with a typed error (an `LM_ERR_` code); a split must not change the outcome.
 */
export function fuzzDecoder(seed: number, inputs: number): DecoderFuzzResult {
  const memory = Buffer.alloc(FUZZ_GUEST_PAGES * PAGE_SIZE);
  const sink: PageBatchSink = { pageCount: FUZZ_GUEST_PAGES, page: (index) => memory.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE) };
  const result: DecoderFuzzResult = {
    target: 'decoder',
    inputs: 0,
    framesDecoded: 0,
    pagesApplied: 0,
    outcomes: {},
    splitMismatches: 0,
    untypedErrors: 0,
    maxInputMs: 0,
    ms: 0,
    findings: [],
  };
  const started = performance.now();
  for (let block = 0; result.inputs < inputs; block++) {
    const batch = sampleBlock(streamInput, seed, block).slice(0, inputs - result.inputs);
    batch.forEach((input, index) => {
      const t0 = performance.now();
      const whole = decodeStream([input], sink);
      const at = input.length === 0 ? 0 : ((input[0]! * 131 + input.length * 7) % input.length) + 1;
      const split = decodeStream([input.subarray(0, at), input.subarray(at)], sink);
      result.maxInputMs = Math.max(result.maxInputMs, performance.now() - t0);
      result.inputs++;
      result.framesDecoded += whole.frames;
      result.pagesApplied += whole.pages;
      const key = whole.code ?? 'none';
      result.outcomes[key] = (result.outcomes[key] ?? 0) + 1;
      const problem =
        whole.untyped ?? split.untyped ?? (whole.code !== split.code || whole.frames !== split.frames ? `split at ${at} gave ${split.code ?? 'no error'} after ${split.frames} frames, whole gave ${whole.code ?? 'no error'} after ${whole.frames}` : null);
      if (whole.untyped !== null || split.untyped !== null) result.untypedErrors++;
      else if (problem !== null) result.splitMismatches++;
      if (problem !== null && result.findings.length < MAX_FINDINGS) {
        result.findings.push({ target: 'decoder', seed, block, index, problem, head: input.subarray(0, 64).toString('hex'), bytes: input.length });
      }
    });
  }
  result.ms = performance.now() - started;
  return result;
}

function decodeStream(chunks: Buffer[], sink: PageBatchSink): Outcome {
  const decoder = new FrameDecoder();
  const outcome: Outcome = { frames: 0, pages: 0, code: null, untyped: null };
  const apply = (frames: Frame[]): void => {
    for (const frame of frames) {
      outcome.frames++;
      if (frame.type === FrameType.PageBatch) outcome.pages += readPageBatch(frame.payload, sink, undefined, frame.rawPageCrcs);
    }
  };
  try {
    for (const chunk of chunks) {
      apply(decoder.push(chunk));
      if (decoder.error !== undefined) throw decoder.error;
    }
    decoder.end();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^LM_ERR_[A-Z_]+$/.test(code)) outcome.code = code;
    else outcome.untyped = `untyped ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  } finally {
    decoder.dispose();
  }
  return outcome;
}
