import { PAGE_SIZE } from '@livemig/protocol';
import type { MigrationReport } from '../report.js';
import { evaluateModel, type ModelInput } from './migration-model.js';

/** The model's prediction from the parameters measured in one run, next to what happened (MigrationReport.model). */
export interface ModelCheck {
  /** M, B, W_M, W_S and T_pre as measured in the run (see measuredInput). */
  input: ModelInput;
  predicted: { pushRounds: number; stopSec: number; totalSec: number; totalPages: number };
  measured: { pushRounds: number; stopSec: number; totalSec: number; totalPages: number };
  /** predicted / measured - 1 for the total time (positive: the model expected it to take longer). */
  totalError: number;
  stopError: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * The model's inputs as this run saw them:
 * - M: the pages round 1 had to consider (sent, plus the working-set pages it deferred);
 * - B: guest-memory bytes the push rounds moved per second (after compression, so above the link's rate
 *   when pages compress);
 * - W_M: pages the rounds after the first (and the stop, deferred pages aside) had to send, per second of the
 *   push rounds that dirtied them: outside the working set, for the framework;
 * - W_S: the working set list's size at the stop; T_pre: the preprocessing phase.
 * @returns undefined unless the run sent at least one push round and a stop-and-copy round
 */
export function measuredInput(report: MigrationReport): ModelInput | undefined {
  const push = report.rounds.filter((r) => !r.final);
  const stop = report.rounds.find((r) => r.final);
  const pushMs = push.reduce((sum, r) => sum + r.ms, 0);
  if (push.length === 0 || !stop || !(pushMs > 0)) return undefined;
  const ws = report.workingSet;
  const pushPages = push.reduce((sum, r) => sum + r.pagesSent, 0);
  const laterPages = pushPages - push[0]!.pagesSent + stop.pagesSent - (ws?.pagesDeferred ?? 0);
  return {
    pageBytes: PAGE_SIZE,
    memoryPages: push[0]!.pagesSent + (ws?.firstRoundDeferred ?? 0),
    bandwidthBytesPerSec: (pushPages * PAGE_SIZE) / (pushMs / 1000),
    dirtyPagesPerSec: Math.max(0, laterPages) / (pushMs / 1000),
    workingSetPages: ws?.sizePages ?? 0,
    preprocessSec: (ws?.preprocessMs ?? 0) / 1000,
    maxRounds: report.parameters?.maxRounds ?? 30,
  };
}

/** The model against the run, or null when the run has no rounds to compare (failed early, not migrated). */
export function checkModel(report: MigrationReport): ModelCheck | null {
  const input = measuredInput(report);
  const stop = report.rounds.find((r) => r.final);
  if (!input || !stop) return null;
  const model = evaluateModel(input);
  const roundsMs = report.rounds.reduce((sum, r) => sum + r.ms, 0);
  const measured = {
    pushRounds: report.rounds.length - 1,
    stopSec: round3(stop.ms / 1000),
    totalSec: round3(input.preprocessSec + roundsMs / 1000),
    totalPages: report.rounds.reduce((sum, r) => sum + r.pagesSent, 0),
  };
  return {
    input,
    predicted: { pushRounds: model.pushRounds, stopSec: round3(model.stopSec), totalSec: round3(model.totalSec), totalPages: Math.round(model.totalPages) },
    measured,
    totalError: measured.totalSec > 0 ? round3(model.totalSec / measured.totalSec - 1) : 0,
    stopError: measured.stopSec > 0 ? round3(model.stopSec / measured.stopSec - 1) : 0,
  };
}
