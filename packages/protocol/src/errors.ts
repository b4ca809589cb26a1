/**
 * Typed errors, one class per cause (undici style). Callers switch on `code`, which is stable; docs/ERRORS.md
 * lists every code of every package with what the operator should do about it.
 *
 * Two registries live here. Wire codes (`ERROR_CODES`) cross in Abort and Refuse messages: `errorFromCode`
 * rebuilds the typed error on the receiving side. Local codes (`LOCAL_ERROR_CODES`) name a failure of this
 * agent's own code: an agent still tells the peer LM_ERR_INTERNAL in Abort, but the peer shows it as
 * PeerAbortError (the failure is the sender's, not the receiver's), and an error posted by one of our own
 * threads is rebuilt by `localErrorFromCode`, which never makes it the peer's.
 * Every constructor takes `(message?, { cause }?)`; throw sites put the offending value in the message.
 */

export class MigrationError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MigrationError';
  }
}

/** LM_ERR_BAD_MAGIC: Frame header does not start with 0x4c4d4947 ("LMIG"). */
export class BadMagicError extends MigrationError {
  constructor(message = 'bad frame magic', options?: { cause?: unknown }) {
    super('LM_ERR_BAD_MAGIC', message, options);
    this.name = 'BadMagicError';
  }
}

/** LM_ERR_UNSUPPORTED_VERSION: Frame header or Hello carries a protocol version this side does not speak. */
export class UnsupportedVersionError extends MigrationError {
  constructor(message = 'unsupported protocol version', options?: { cause?: unknown }) {
    super('LM_ERR_UNSUPPORTED_VERSION', message, options);
    this.name = 'UnsupportedVersionError';
  }
}

/** LM_ERR_UNKNOWN_FRAME_TYPE: Frame header carries a frame type code not in `FrameType`. */
export class UnknownFrameTypeError extends MigrationError {
  constructor(message = 'unknown frame type', options?: { cause?: unknown }) {
    super('LM_ERR_UNKNOWN_FRAME_TYPE', message, options);
    this.name = 'UnknownFrameTypeError';
  }
}

/** LM_ERR_BAD_FLAGS: Frame header flags are not 0 (version 1 defines none). */
export class BadFlagsError extends MigrationError {
  constructor(message = 'bad frame flags', options?: { cause?: unknown }) {
    super('LM_ERR_BAD_FLAGS', message, options);
    this.name = 'BadFlagsError';
  }
}

/** LM_ERR_FRAME_TOO_LARGE: Frame payload length exceeds the decoder's limit; rejected before buffering. */
export class FrameTooLargeError extends MigrationError {
  constructor(message = 'frame payload too large', options?: { cause?: unknown }) {
    super('LM_ERR_FRAME_TOO_LARGE', message, options);
    this.name = 'FrameTooLargeError';
  }
}

/** LM_ERR_CRC_MISMATCH: CRC-32 over header and payload does not match the header's CRC field. */
export class CrcMismatchError extends MigrationError {
  constructor(message = 'frame CRC mismatch', options?: { cause?: unknown }) {
    super('LM_ERR_CRC_MISMATCH', message, options);
    this.name = 'CrcMismatchError';
  }
}

/** LM_ERR_PAGE_INDEX_OUT_OF_RANGE: Page batch entry names a page beyond the guest's memory. */
export class PageIndexOutOfRangeError extends MigrationError {
  constructor(message = 'page index out of range', options?: { cause?: unknown }) {
    super('LM_ERR_PAGE_INDEX_OUT_OF_RANGE', message, options);
    this.name = 'PageIndexOutOfRangeError';
  }
}

/** LM_ERR_UNKNOWN_PAGE_ENCODING: Page batch entry carries an encoding code not in `PageEncoding`. */
export class UnknownPageEncodingError extends MigrationError {
  constructor(message = 'unknown page encoding', options?: { cause?: unknown }) {
    super('LM_ERR_UNKNOWN_PAGE_ENCODING', message, options);
    this.name = 'UnknownPageEncodingError';
  }
}

/** LM_ERR_PAGE_INFLATE: Lz4 page block is corrupt or does not inflate to exactly 4096 bytes. */
export class PageInflateError extends MigrationError {
  constructor(message = 'lz4 page does not inflate to exactly one page', options?: { cause?: unknown }) {
    super('LM_ERR_PAGE_INFLATE', message, options);
    this.name = 'PageInflateError';
  }
}

/** LM_ERR_BAD_DELTA: Delta page entry has a run past the page end, an over-long varint, an empty changed run or a cut record. */
export class PageDeltaError extends MigrationError {
  constructor(message = 'bad page delta', options?: { cause?: unknown }) {
    super('LM_ERR_BAD_DELTA', message, options);
    this.name = 'PageDeltaError';
  }
}

/** LM_ERR_TRUNCATED: Stream ended inside a frame, or a page batch is shorter or longer than its entries. */
export class TruncatedFrameError extends MigrationError {
  constructor(message = 'truncated frame', options?: { cause?: unknown }) {
    super('LM_ERR_TRUNCATED', message, options);
    this.name = 'TruncatedFrameError';
  }
}

/** LM_ERR_BAD_MESSAGE: Control message is not valid msgpack or a field has the wrong type or range. */
export class BadMessageError extends MigrationError {
  constructor(message = 'bad control message', options?: { cause?: unknown }) {
    super('LM_ERR_BAD_MESSAGE', message, options);
    this.name = 'BadMessageError';
  }
}

/** LM_ERR_REFUSED: The destination answered Hello with Refuse. */
export class RefusedError extends MigrationError {
  constructor(message = 'destination refused the migration', options?: { cause?: unknown }) {
    super('LM_ERR_REFUSED', message, options);
    this.name = 'RefusedError';
  }
}

/** LM_ERR_PEER_CLOSED: The peer closed the connection before the migration finished. */
export class PeerClosedError extends MigrationError {
  constructor(message = 'peer closed the connection', options?: { cause?: unknown }) {
    super('LM_ERR_PEER_CLOSED', message, options);
    this.name = 'PeerClosedError';
  }
}

/** LM_ERR_TIMEOUT: A phase did not finish in its time limit. */
export class TimeoutError extends MigrationError {
  constructor(message = 'timed out', options?: { cause?: unknown }) {
    super('LM_ERR_TIMEOUT', message, options);
    this.name = 'TimeoutError';
  }
}

/**
 * LM_ERR_REPAIR_FAILED: At commit, the pages whose CRCs differ were sent again for the most repair passes
 * allowed (or were too many to repair) and the digests still differ.
 */
export class RepairFailedError extends MigrationError {
  constructor(message = 'repair at commit failed', options?: { cause?: unknown }) {
    super('LM_ERR_REPAIR_FAILED', message, options);
    this.name = 'RepairFailedError';
  }
}

/** LM_ERR_DIGEST_MISMATCH: The rebuilt image's digest differs from the one in Complete. */
export class DigestMismatchError extends MigrationError {
  constructor(message = 'image digest mismatch', options?: { cause?: unknown }) {
    super('LM_ERR_DIGEST_MISMATCH', message, options);
    this.name = 'DigestMismatchError';
  }
}

/** LM_ERR_HANDSHAKE: Hello/Accept could not be agreed (version, capabilities, geometry). */
export class HandshakeError extends MigrationError {
  constructor(message = 'handshake failed', options?: { cause?: unknown }) {
    super('LM_ERR_HANDSHAKE', message, options);
    this.name = 'HandshakeError';
  }
}

/** LM_ERR_UNEXPECTED_FRAME: A well-formed frame arrived in a phase where it is not allowed. */
export class UnexpectedFrameError extends MigrationError {
  constructor(message = 'unexpected frame', options?: { cause?: unknown }) {
    super('LM_ERR_UNEXPECTED_FRAME', message, options);
    this.name = 'UnexpectedFrameError';
  }
}

/** LM_ERR_CANCELLED: The migration was cancelled by the operator. */
export class CancelledError extends MigrationError {
  constructor(message = 'migration cancelled', options?: { cause?: unknown }) {
    super('LM_ERR_CANCELLED', message, options);
    this.name = 'CancelledError';
  }
}

/** LM_ERR_CONNECT: The TCP connection to the peer could not be made. */
export class ConnectError extends MigrationError {
  constructor(message = 'could not connect to peer', options?: { cause?: unknown }) {
    super('LM_ERR_CONNECT', message, options);
    this.name = 'ConnectError';
  }
}

/** LM_ERR_BAD_ARGUMENT: An API was called with an invalid argument. */
export class BadArgumentError extends MigrationError {
  constructor(message = 'bad argument', options?: { cause?: unknown }) {
    super('LM_ERR_BAD_ARGUMENT', message, options);
    this.name = 'BadArgumentError';
  }
}

/** LM_ERR_PEER_ABORT: The peer sent Abort with a code that is not a wire code (one this side does not know, or a local one). */
export class PeerAbortError extends MigrationError {
  constructor(message = 'peer aborted the migration', options?: { cause?: unknown }) {
    super('LM_ERR_PEER_ABORT', message, options);
    this.name = 'PeerAbortError';
  }
}

/** LM_ERR_OUTCOME_UNKNOWN: After Complete the source could not learn whether the destination committed; the guest stays parked here until resolved. */
export class OutcomeUnknownError extends MigrationError {
  constructor(message = 'outcome of the commit unknown', options?: { cause?: unknown }) {
    super('LM_ERR_OUTCOME_UNKNOWN', message, options);
    this.name = 'OutcomeUnknownError';
  }
}

/** LM_ERR_PROOF_MISMATCH: Committed's proof is not the one the source computes from its own table and the nonce. */
export class ProofMismatchError extends MigrationError {
  constructor(message = 'commit proof mismatch', options?: { cause?: unknown }) {
    super('LM_ERR_PROOF_MISMATCH', message, options);
    this.name = 'ProofMismatchError';
  }
}

/** LM_ERR_OUTCOME_DECIDED: The migration id already has an outcome at the destination; an aborted id is never committed, nor a committed one aborted, nor a used one started again. */
export class OutcomeDecidedError extends MigrationError {
  constructor(message = 'the outcome of this migration id is already decided', options?: { cause?: unknown }) {
    super('LM_ERR_OUTCOME_DECIDED', message, options);
    this.name = 'OutcomeDecidedError';
  }
}

/** LM_ERR_JOURNAL: The destination's commit journal cannot be read or written. */
export class JournalError extends MigrationError {
  constructor(message = 'commit journal failed', options?: { cause?: unknown }) {
    super('LM_ERR_JOURNAL', message, options);
    this.name = 'JournalError';
  }
}

/**
 * LM_ERR_AUTH: The peer could not be authenticated, or did not authenticate us: a TLS handshake that failed (a
 * wrong or unknown pre-shared key, a certificate that does not verify or names another host, a peer that does
 * not speak TLS), or a verified peer whose name is not on the allow-list.
 */
export class AuthError extends MigrationError {
  constructor(message = 'authentication failed', options?: { cause?: unknown }) {
    super('LM_ERR_AUTH', message, options);
    this.name = 'AuthError';
  }
}

/** The code of InternalError, and what an agent tells the peer in Abort for an error with no code of ours. */
export const INTERNAL_ERROR_CODE = 'LM_ERR_INTERNAL';

/** LM_ERR_INTERNAL: A failure of this agent's own code (a bug, a crashed channel thread), not of the peer or its input. */
export class InternalError extends MigrationError {
  constructor(message = 'internal error', options?: { cause?: unknown }) {
    super(INTERNAL_ERROR_CODE, message, options);
    this.name = 'InternalError';
  }
}

/** A class of this module: constructed with an optional message (its default otherwise) and cause. */
export type MigrationErrorClass = new (message?: string, options?: { cause?: unknown }) => MigrationError;

/** Wire codes: what a peer may send in Abort or Refuse and this side adopts as its own typed error. */
export const WIRE_ERROR_CLASSES: ReadonlyMap<string, MigrationErrorClass> = new Map<string, MigrationErrorClass>([
  ['LM_ERR_BAD_MAGIC', BadMagicError],
  ['LM_ERR_UNSUPPORTED_VERSION', UnsupportedVersionError],
  ['LM_ERR_UNKNOWN_FRAME_TYPE', UnknownFrameTypeError],
  ['LM_ERR_BAD_FLAGS', BadFlagsError],
  ['LM_ERR_FRAME_TOO_LARGE', FrameTooLargeError],
  ['LM_ERR_CRC_MISMATCH', CrcMismatchError],
  ['LM_ERR_PAGE_INDEX_OUT_OF_RANGE', PageIndexOutOfRangeError],
  ['LM_ERR_UNKNOWN_PAGE_ENCODING', UnknownPageEncodingError],
  ['LM_ERR_PAGE_INFLATE', PageInflateError],
  ['LM_ERR_BAD_DELTA', PageDeltaError],
  ['LM_ERR_TRUNCATED', TruncatedFrameError],
  ['LM_ERR_BAD_MESSAGE', BadMessageError],
  ['LM_ERR_REFUSED', RefusedError],
  ['LM_ERR_PEER_CLOSED', PeerClosedError],
  ['LM_ERR_TIMEOUT', TimeoutError],
  ['LM_ERR_DIGEST_MISMATCH', DigestMismatchError],
  ['LM_ERR_REPAIR_FAILED', RepairFailedError],
  ['LM_ERR_HANDSHAKE', HandshakeError],
  ['LM_ERR_UNEXPECTED_FRAME', UnexpectedFrameError],
  ['LM_ERR_CANCELLED', CancelledError],
  ['LM_ERR_CONNECT', ConnectError],
  ['LM_ERR_BAD_ARGUMENT', BadArgumentError],
  ['LM_ERR_PEER_ABORT', PeerAbortError],
  ['LM_ERR_OUTCOME_UNKNOWN', OutcomeUnknownError],
  ['LM_ERR_PROOF_MISMATCH', ProofMismatchError],
  ['LM_ERR_OUTCOME_DECIDED', OutcomeDecidedError],
  ['LM_ERR_JOURNAL', JournalError],
  ['LM_ERR_AUTH', AuthError],
]);

/**
 * Local codes: failures of this agent's own code. Never adopted from a peer (an Abort carrying one is the
 * peer's failure: PeerAbortError). Local codes of other packages (LM_ERR_BUSY) are declared where they are raised.
 */
export const LOCAL_ERROR_CLASSES: ReadonlyMap<string, MigrationErrorClass> = new Map<string, MigrationErrorClass>([
  [INTERNAL_ERROR_CODE, InternalError],
]);

/** Every wire code: what errorFromCode rebuilds from a peer's Abort or Refuse. */
export const ERROR_CODES: readonly string[] = Object.freeze([...WIRE_ERROR_CLASSES.keys()]);

/** Every local code this package defines. */
export const LOCAL_ERROR_CODES: readonly string[] = Object.freeze([...LOCAL_ERROR_CLASSES.keys()]);

/**
 * Rebuilds a typed error from the code and message of the peer's Abort or Refuse. A code that is not a wire
 * code (unknown, or the peer's own LM_ERR_INTERNAL) gives PeerAbortError keeping the code in its message.
 */
export function errorFromCode(code: string, message: string): MigrationError {
  const ErrorClass = WIRE_ERROR_CLASSES.get(code);
  return ErrorClass ? new ErrorClass(message) : new PeerAbortError(`${code}: ${message}`);
}

/**
 * Rebuilds a typed error from the code and message one of our own threads posted (see errorSummary). Wire and
 * local codes give their class; any other code (one this package does not know) is still our own failure:
 * InternalError keeping the code in its message, never the peer's.
 */
export function localErrorFromCode(code: string, message: string): MigrationError {
  const ErrorClass = WIRE_ERROR_CLASSES.get(code) ?? LOCAL_ERROR_CLASSES.get(code);
  return ErrorClass ? new ErrorClass(message) : new InternalError(`${code}: ${message}`);
}
