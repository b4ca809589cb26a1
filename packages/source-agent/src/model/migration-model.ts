/**
 * The analytic migration-time model of Zaw and Thein ("Live Virtual Machine Migration with Efficient Working
 * Set Prediction"), for plain pre-copy and for their framework (preprocessing + push + stop phases).
 *
 * The paper's text was not at hand: the equations are rebuilt from its description and the standard pre-copy
 * model (Clark et al.; Akoush et al.), numbered as the paper numbers its eight (docs/WORKING-SET.md says where
 * they are ambiguous and how we read them):
 *
 *   (1) T_0 = M * P / B                      round 0 sends the whole memory
 *   (2) M_i = W_M * T_(i-1)                  pages modified while round i-1 was sent
 *   (3) T_i = M_i * P / B
 *   (4) n = the first i >= 1 with M_i <= W_M (at most `maxRounds` push rounds)
 *   (5) T_stop = M_n * P / B                 stop-and-copy sends the last modified pages
 *   (6) T_total = sum(T_0 .. T_(n-1)) + T_stop
 *   (7) framework: T'_0 = (M - W_S) * P / B, and T'_stop = (M'_n + W_S) * P / B
 *   (8) framework: T'_total = T_pre + sum(T'_0 .. T'_(n'-1)) + T'_stop
 *
 * In the framework W_M is the rate at which pages outside the working set are modified (the paper uses the
 * same W_M for both; a measured run gives each its own).
 */
export interface ModelInput {
  /** P: bytes per page. */
  pageBytes: number;
  /** M: pages of guest memory. */
  memoryPages: number;
  /** B: bytes per second on the link. */
  bandwidthBytesPerSec: number;
  /** W_M: pages modified per second. */
  dirtyPagesPerSec: number;
  /** W_S: pages in the working set list (0: plain pre-copy). */
  workingSetPages: number;
  /** T_pre: the preprocessing phase, seconds (framework only). */
  preprocessSec: number;
  /** Bound on the push rounds when (4) is never met (the link is slower than the dirtying). */
  maxRounds: number;
}

export interface ModelRound {
  /** i: 0 is the first (full) round. */
  round: number;
  pages: number;
  seconds: number;
}

export interface ModelResult {
  /** True for the framework (W_S > 0). */
  framework: boolean;
  /** The push rounds T_0 .. T_(n-1). */
  rounds: ModelRound[];
  /** n: push rounds before the stop (our reports count one more round: stop-and-copy). */
  pushRounds: number;
  /** Whether (4) was met, rather than the round bound. */
  converged: boolean;
  pushSec: number;
  /** Pages stop-and-copy sends: M_n, plus W_S in the framework. */
  stopPages: number;
  /** T_stop: the downtime the model predicts. */
  stopSec: number;
  preprocessSec: number;
  totalSec: number;
  /** Pages over the whole migration. */
  totalPages: number;
}

/** Evaluates (1)-(6), or (7)-(8) with a working set. Assumes a checked input (see checkModelInput). */
export function evaluateModel(input: ModelInput): ModelResult {
  const { pageBytes: P, memoryPages: M, bandwidthBytesPerSec: B, dirtyPagesPerSec: WM, workingSetPages: WS } = input;
  const framework = WS > 0;
  const secondsFor = (pages: number): number => (pages * P) / B;
  const rounds: ModelRound[] = [];
  let pages = M - WS;
  let converged = false;
  for (let i = 0; i < input.maxRounds; i++) {
    const seconds = secondsFor(pages);
    rounds.push({ round: i, pages, seconds });
    pages = WM * seconds;
    if (pages <= WM) {
      converged = true;
      break;
    }
  }
  const pushSec = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const stopPages = pages + WS;
  const stopSec = secondsFor(stopPages);
  const preprocessSec = framework ? input.preprocessSec : 0;
  return {
    framework,
    rounds,
    pushRounds: rounds.length,
    converged,
    pushSec,
    stopPages,
    stopSec,
    preprocessSec,
    totalSec: preprocessSec + pushSec + stopSec,
    totalPages: rounds.reduce((sum, r) => sum + r.pages, 0) + stopPages,
  };
}

/** The paper's Table 1 (B read as 5.625 MB/s, see docs/WORKING-SET.md). */
export const TABLE_1: Readonly<Omit<ModelInput, 'workingSetPages' | 'preprocessSec' | 'maxRounds'>> = {
  pageBytes: 4096,
  memoryPages: 131_072,
  bandwidthBytesPerSec: 5_625_000,
  dirtyPagesPerSec: 512,
};

/** The working-set sizes of the paper's Fig. 3-5. */
export const FIGURE_WORKING_SETS = [256, 512, 1024, 2048, 4096, 8192, 16_384] as const;
