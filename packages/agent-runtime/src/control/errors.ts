import { errorSummary } from '../error-summary.js';

/**
 * Errors of the control API. Every error answer has the body `{"error":{"code":..., "message":...}}`, where
 * `code` is stable (callers switch on it) and `message` is one line for a human. docs/ERRORS.md lists the codes.
 *
 * The server's own codes are CONTROL_ERRORS, each with the HTTP status it answers with. An answer may also carry
 * a code owned elsewhere: a handler's error keeps its code (toControlError), LM_ERR_INTERNAL (protocol's) is 500
 * for an error without one. The client adds LM_ERR_BAD_RESPONSE (CONTROL_CLIENT_ERRORS) and reuses protocol's
 * LM_ERR_CONNECT and LM_ERR_TIMEOUT for no connection and no answer in time.
 */

/** The control API server's own codes: the HTTP status of each and the message when none is given. */
export const CONTROL_ERRORS = {
  /** Malformed JSON, a body that is not an object, an unknown option or a value out of range. */
  LM_ERR_BAD_REQUEST: { status: 400, message: 'bad request' },
  /** A request without the bearer token (--control-token-file), or with another one. */
  LM_ERR_UNAUTHORIZED: { status: 401, message: 'unauthorized' },
  /** A request from a web page (it has an Origin header), or naming a Host the agent does not answer to. */
  LM_ERR_FORBIDDEN: { status: 403, message: 'forbidden' },
  /** An unknown path, migration id, or no guest to show. */
  LM_ERR_NOT_FOUND: { status: 404, message: 'not found' },
  /** A known path asked with a method it does not take (the answer's Allow header lists those it does). */
  LM_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  /** The request does not fit the agent's state: no guest, a migration in flight, a phase past changing. */
  LM_ERR_CONFLICT: { status: 409, message: 'conflicts with the state of the agent' },
  /** A request body over the server's limit. */
  LM_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'request body too large' },
  /** A request body that is not application/json in UTF-8. */
  LM_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'request body must be JSON' },
  /** An event stream beyond the server's limit of clients at once. */
  LM_ERR_TOO_MANY_CLIENTS: { status: 429, message: 'too many clients' },
  /** The dashboard's login from an address that posted too many wrong tokens in a short time (Retry-After says when). */
  LM_ERR_TOO_MANY_LOGINS: { status: 429, message: 'too many wrong logins' },
} as const satisfies Record<string, { status: number; message: string }>;

/** The control API client's own codes (ControlClientError), with the message when none is given. */
export const CONTROL_CLIENT_ERRORS = {
  /** An answer that is not what the API sends: not JSON, no error body, not an event stream. */
  LM_ERR_BAD_RESPONSE: { message: 'the control API sent an answer it never sends' },
} as const satisfies Record<string, { message: string }>;

/** A code of the control API server's own. */
export type ControlErrorCode = keyof typeof CONTROL_ERRORS;

export class ControlError extends Error {
  readonly status: number;
  readonly code: string;
  /** Extra response headers, e.g. `Allow` on a 405. */
  readonly headers: Readonly<Record<string, string>>;

  /** `code` is one of CONTROL_ERRORS with its status (see controlError), or the code of an error a handler threw. */
  constructor(
    status: number,
    code: ControlErrorCode | (string & {}),
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

/** A ControlError with the status its code answers with, and the code's default message unless one is given. */
export function controlError(
  code: ControlErrorCode,
  message: string = CONTROL_ERRORS[code].message,
  options?: { cause?: unknown; headers?: Record<string, string> },
): ControlError {
  return new ControlError(CONTROL_ERRORS[code].status, code, message, options);
}

/**
 * A control API call that failed. `status` is the HTTP status, or 0 when no answer came. `code` is the
 * server's error code, or one of the client's own: LM_ERR_CONNECT (no connection), LM_ERR_TIMEOUT (no answer in
 * time), LM_ERR_BAD_RESPONSE (an answer that is not what the API sends).
 */
export class ControlClientError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlClientError';
    this.status = status;
    this.code = code;
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
 * `code` is LM_ERR_BAD_ARGUMENT (MigrationError from @livemig/protocol, or a GuestError) is the caller's
 * fault, 400 keeping the code; any other error is 500 with the code errorSummary gives it (its own, or
 * LM_ERR_INTERNAL).
 */
export function toControlError(err: unknown): ControlError {
  if (err instanceof ControlError) return err;
  const summary = errorSummary(err);
  const message = oneLine(summary.message) || 'internal error';
  if (summary.code === 'LM_ERR_BAD_ARGUMENT') return new ControlError(400, summary.code, message, { cause: err });
  return new ControlError(500, summary.code, message, { cause: err });
}

export function errorBody(err: ControlError): ErrorBody {
  return { error: { code: err.code, message: oneLine(err.message) } };
}

