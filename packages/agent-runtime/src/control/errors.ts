/**
 * Errors of the control API. Every error answer has the body `{"error":{"code":..., "message":...}}`, where
 * `code` is stable (callers switch on it) and `message` is one line for a human.
 */

export type ControlErrorCode =
  | 'LM_ERR_BAD_REQUEST'
  | 'LM_ERR_NOT_FOUND'
  | 'LM_ERR_METHOD_NOT_ALLOWED'
  | 'LM_ERR_CONFLICT'
  | 'LM_ERR_PAYLOAD_TOO_LARGE'
  | 'LM_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'LM_ERR_FORBIDDEN'
  | 'LM_ERR_INTERNAL'
  | (string & {});

export class ControlError extends Error {
  readonly status: number;
  readonly code: string;
  /** Extra response headers, e.g. `Allow` on a 405. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: ControlErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ControlError';
    this.status = status;
    this.code = code;
    this.headers = { ...options?.headers };
  }
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Collapses whitespace (newlines included) and caps the length, so a message stays one line. */
export function oneLine(text: string, maxChars = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= maxChars ? flat : `${flat.slice(0, maxChars - 1)}…`;
}

/**
 * Maps anything a handler threw to the answer: a ControlError keeps its status and code; an error whose
 * `code` is LM_ERR_BAD_ARGUMENT (MigrationError from @livemig/protocol) is the caller's fault, 400 keeping
 * the code; any other error is 500, with its own string `code` if it has one.
 */
export function toControlError(err: unknown): ControlError {
  if (err instanceof ControlError) return err;
  const code = codeOf(err);
  const message = oneLine(err instanceof Error ? err.message : String(err)) || 'internal error';
  if (code === 'LM_ERR_BAD_ARGUMENT') return new ControlError(400, code, message, { cause: err });
  return new ControlError(500, code ?? 'LM_ERR_INTERNAL', message, { cause: err });
}

export function errorBody(err: ControlError): ErrorBody {
  return { error: { code: err.code, message: oneLine(err.message) } };
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}
