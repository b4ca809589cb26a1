import { BadArgumentError } from '@livemig/protocol';
import { parseDuration } from '@livemig/agent-runtime';

/** `--ws-preprocess` when `--working-set` is given without it. */
export const DEFAULT_WS_PREPROCESS_MS = 1000;

/**
 * The framework's options from the command line: `--working-set PAGES` (0: off) and `--ws-preprocess`.
 * @throws BadArgumentError naming the flag whose value is wrong
 */
export function workingSetOptions(
  workingSet: number | undefined,
  wsPreprocess: string | undefined,
  pageCount: number,
): { workingSetPages: number; wsPreprocessMs: number } {
  const pages = workingSet ?? 0;
  if (!Number.isSafeInteger(pages) || pages < 0 || pages >= pageCount) {
    throw new BadArgumentError(`--working-set: expected 0 (off) up to fewer than the guest's ${pageCount} pages, got ${workingSet}`);
  }
  const wsPreprocessMs = wsPreprocess === undefined ? DEFAULT_WS_PREPROCESS_MS : parseDuration(wsPreprocess, 'ws-preprocess');
  return { workingSetPages: pages, wsPreprocessMs };
}
