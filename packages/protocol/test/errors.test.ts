import { describe, expect, it } from 'vitest';
import * as protocol from '@livemig/protocol';
import {
  ERROR_CODES,
  INTERNAL_ERROR_CODE,
  InternalError,
  LOCAL_ERROR_CLASSES,
  LOCAL_ERROR_CODES,
  MigrationError,
  WIRE_ERROR_CLASSES,
  errorFromCode,
  localErrorFromCode,
} from '@livemig/protocol';

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
  ['RepairFailedError', 'LM_ERR_REPAIR_FAILED'],
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
  ['AuthError', 'LM_ERR_AUTH'],
];

/** Failures of our own code: never adopted from a peer's Abort. */
const localTable: Array<[string, string]> = [['InternalError', 'LM_ERR_INTERNAL']];

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

describe('local error classes', () => {
  it.each(localTable)('%s has its name, code %s, a default message and extends MigrationError', (name, code) => {
    const ErrorClass = classOf(name);
    const err = new ErrorClass();
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.message).not.toContain('\n');
    const cause = new Error('root');
    const withCause = new ErrorClass('custom', { cause });
    expect(withCause.message).toBe('custom');
    expect(withCause.cause).toBe(cause);
  });

  it('LOCAL_ERROR_CODES lists every local code exactly once; INTERNAL_ERROR_CODE is InternalError\'s', () => {
    expect([...LOCAL_ERROR_CODES].sort()).toEqual(localTable.map(([, code]) => code).sort());
    expect(new InternalError().code).toBe(INTERNAL_ERROR_CODE);
  });

  it('every class of the two maps carries the code it is filed under, and no two classes share a code', () => {
    const filed = [...WIRE_ERROR_CLASSES, ...LOCAL_ERROR_CLASSES];
    for (const [code, ErrorClass] of filed) expect(new ErrorClass().code).toBe(code);
    expect(new Set(filed.map(([code]) => code)).size).toBe(filed.length);
    expect(new Set(filed.map(([, ErrorClass]) => ErrorClass)).size).toBe(filed.length);
  });

  it('every MigrationError subclass the package exports is filed in one of the two maps', () => {
    const exported = Object.entries(protocol).filter(
      ([, value]) => typeof value === 'function' && value.prototype instanceof MigrationError,
    );
    const filed = new Set([...WIRE_ERROR_CLASSES.values(), ...LOCAL_ERROR_CLASSES.values()]);
    expect(exported.map(([name]) => name).sort()).toEqual([...table, ...localTable].map(([name]) => name).sort());
    for (const [, value] of exported) expect(filed.has(value as ErrorClass)).toBe(true);
  });

  it.each([...table, ...localTable])('localErrorFromCode rebuilds %s from its code and message', (name, code) => {
    const err = localErrorFromCode(code, 'from a channel thread');
    expect(err).toBeInstanceOf(classOf(name));
    expect(err.code).toBe(code);
    expect(err.message).toBe('from a channel thread');
  });

  it('localErrorFromCode turns an unknown code into InternalError keeping the code in the message: our failure, not the peer\'s', () => {
    const err = localErrorFromCode('ERR_WORKER_OUT_OF_MEMORY', 'heap exhausted');
    expect(err).toBeInstanceOf(InternalError);
    expect(err.code).toBe('LM_ERR_INTERNAL');
    expect(err.message).toBe('ERR_WORKER_OUT_OF_MEMORY: heap exhausted');
  });

  it('errorFromCode shows the peer\'s LM_ERR_INTERNAL as PeerAbortError: the failure is the peer\'s', () => {
    const err = errorFromCode('LM_ERR_INTERNAL', 'channel thread crashed');
    expect(err).toBeInstanceOf(protocol.PeerAbortError);
    expect(err.code).toBe('LM_ERR_PEER_ABORT');
    expect(err.message).toBe('LM_ERR_INTERNAL: channel thread crashed');
  });
});
