import { MigrationError } from '@livemig/protocol';

/** The `{ code, message }` a report, a log line or an API answer carries for any error. */
export function errorSummary(error: unknown): { code: string; message: string } {
  if (error instanceof MigrationError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'LM_ERR_INTERNAL', message: error.message };
  }
  return { code: 'LM_ERR_INTERNAL', message: String(error) };
}
