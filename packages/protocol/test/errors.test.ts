import { describe, expect, it } from 'vitest';
import * as protocol from '@livemig/protocol';
import { ERROR_CODES, MigrationError, errorFromCode } from '@livemig/protocol';

const table: Array<[string, string]> = [
  ['BadMagicError', 'LM_ERR_BAD_MAGIC'],
  ['UnsupportedVersionError', 'LM_ERR_UNSUPPORTED_VERSION'],
  ['UnknownFrameTypeError', 'LM_ERR_UNKNOWN_FRAME_TYPE'],
  ['BadFlagsError', 'LM_ERR_BAD_FLAGS'],
  ['FrameTooLargeError', 'LM_ERR_FRAME_TOO_LARGE'],
  ['CrcMismatchError', 'LM_ERR_CRC_MISMATCH'],
  ['PageIndexOutOfRangeError', 'LM_ERR_PAGE_INDEX_OUT_OF_RANGE'],
  ['UnknownPageEncodingError', 'LM_ERR_UNKNOWN_PAGE_ENCODING'],
  ['PageInflateError', 'LM_ERR_PAGE_INFLATE'],
  ['PageDeltaError', 'LM_ERR_BAD_DELTA'],
  ['TruncatedFrameError', 'LM_ERR_TRUNCATED'],
  ['BadMessageError', 'LM_ERR_BAD_MESSAGE'],
  ['RefusedError', 'LM_ERR_REFUSED'],
  ['PeerClosedError', 'LM_ERR_PEER_CLOSED'],
  ['TimeoutError', 'LM_ERR_TIMEOUT'],
  ['DigestMismatchError', 'LM_ERR_DIGEST_MISMATCH'],
  ['HandshakeError', 'LM_ERR_HANDSHAKE'],
  ['UnexpectedFrameError', 'LM_ERR_UNEXPECTED_FRAME'],
  ['CancelledError', 'LM_ERR_CANCELLED'],
  ['ConnectError', 'LM_ERR_CONNECT'],
  ['BadArgumentError', 'LM_ERR_BAD_ARGUMENT'],
  ['PeerAbortError', 'LM_ERR_PEER_ABORT'],
  ['OutcomeUnknownError', 'LM_ERR_OUTCOME_UNKNOWN'],
  ['ProofMismatchError', 'LM_ERR_PROOF_MISMATCH'],
  ['OutcomeDecidedError', 'LM_ERR_OUTCOME_DECIDED'],
  ['JournalError', 'LM_ERR_JOURNAL'],
];

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => MigrationError;
const classOf = (name: string): ErrorClass => (protocol as unknown as Record<string, ErrorClass>)[name] as ErrorClass;

describe('error classes', () => {
  it.each(table)('%s has its name, code %s, a default message and extends MigrationError', (name, code) => {
    const ErrorClass = classOf(name);
    const err = new ErrorClass();
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.message).not.toContain('\n');
    const cause = new Error('root');
    const withCause = new ErrorClass('custom', { cause });
    expect(withCause.message).toBe('custom');
    expect(withCause.cause).toBe(cause);
  });

  it('ERROR_CODES lists every code exactly once', () => {
    expect([...ERROR_CODES].sort()).toEqual(table.map(([, code]) => code).sort());
  });

  it.each(table)('errorFromCode rebuilds %s from its code and message', (name, code) => {
    const err = errorFromCode(code, 'from the peer');
    expect(err).toBeInstanceOf(classOf(name));
    expect(err.code).toBe(code);
    expect(err.message).toBe('from the peer');
  });

  it('errorFromCode turns an unknown code into PeerAbortError keeping the code in the message', () => {
    const err = errorFromCode('SOMETHING_ELSE', 'disk full');
    expect(err).toBeInstanceOf(protocol.PeerAbortError);
    expect(err.code).toBe('LM_ERR_PEER_ABORT');
    expect(err.message).toBe('SOMETHING_ELSE: disk full');
  });
});
