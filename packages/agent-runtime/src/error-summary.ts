import { INTERNAL_ERROR_CODE, MigrationError } from '@livemig/protocol';

/**
 * The `{ code, message }` that a report, a log line, a control API answer or a channel thread's error message
 * carries for any error: a MigrationError's code; the string `code` of any other error (a GuestError's, a
 * ControlError's, or a Node.js system code such as EADDRINUSE, passed through as it is); LM_ERR_INTERNAL for
 * an error without one. The main thread rebuilds a channel thread's error from it with localErrorFromCode.
 */
export function errorSummary(error: unknown): { code: string; message: string } {
  if (error instanceof MigrationError) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: codeOf(error) ?? INTERNAL_ERROR_CODE, message };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}
