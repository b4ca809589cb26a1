import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  InternalError,
  LOCAL_ERROR_CODES,
  MigrationError,
  PeerAbortError,
  errorFromCode,
  localErrorFromCode,
} from '@livemig/protocol';
import { errorSummary } from '@livemig/agent-runtime';
import { errorSummary as errorSummaryForThreads } from '@livemig/agent-runtime/transport';

/** What a channel thread does with an error, and what its main thread does with the message it posted. */
const acrossThreads = (error: unknown): MigrationError => {
  const { code, message } = errorSummary(error);
  return localErrorFromCode(code, message);
};

describe('errorSummary', () => {
  it('is the same function from the package index and from the light transport entry', () => {
    expect(errorSummaryForThreads).toBe(errorSummary);
  });

  it('keeps a MigrationError\'s code and message', () => {
    expect(errorSummary(new MigrationError('LM_ERR_CANCELLED', 'operator'))).toEqual({ code: 'LM_ERR_CANCELLED', message: 'operator' });
  });

  it('keeps the string code of any other error (a GuestError\'s, a Node.js system error\'s)', () => {
    const guest = Object.assign(new Error('vCPU 1 exited with code 1'), { code: 'LM_ERR_VCPU_CRASHED' });
    expect(errorSummary(guest)).toEqual({ code: 'LM_ERR_VCPU_CRASHED', message: 'vCPU 1 exited with code 1' });
    const system = Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' });
    expect(errorSummary(system)).toEqual({ code: 'EADDRINUSE', message: 'listen EADDRINUSE: address already in use' });
  });

  it('gives LM_ERR_INTERNAL to an error without a code, or with one that is not a non-empty string', () => {
    expect(errorSummary(new Error('boom'))).toEqual({ code: 'LM_ERR_INTERNAL', message: 'boom' });
    expect(errorSummary(Object.assign(new Error('boom'), { code: 7 }))).toEqual({ code: 'LM_ERR_INTERNAL', message: 'boom' });
    expect(errorSummary(Object.assign(new Error('boom'), { code: '' }))).toEqual({ code: 'LM_ERR_INTERNAL', message: 'boom' });
    expect(errorSummary('just a string')).toEqual({ code: 'LM_ERR_INTERNAL', message: 'just a string' });
    expect(errorSummary(undefined)).toEqual({ code: 'LM_ERR_INTERNAL', message: 'undefined' });
  });
});

describe('an error crossing from our own thread stays ours', () => {
  it('a plain Error (a bug in the thread) arrives as InternalError, not as the peer\'s abort', () => {
    const error = acrossThreads(new Error('round command before start'));
    expect(error).toBeInstanceOf(InternalError);
    expect(error.code).toBe('LM_ERR_INTERNAL');
    expect(error.message).toBe('round command before start');
  });

  it('an error with a code protocol does not know arrives as InternalError keeping that code', () => {
    const error = acrossThreads(Object.assign(new Error('heap exhausted'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }));
    expect(error).toBeInstanceOf(InternalError);
    expect(error.message).toBe('ERR_WORKER_OUT_OF_MEMORY: heap exhausted');
  });

  it('the peer\'s abort, met by the thread, arrives as the peer\'s abort with the same message', () => {
    const fromPeer = errorFromCode('SOMETHING_ELSE', 'disk full');
    const error = acrossThreads(fromPeer);
    expect(error).toBeInstanceOf(PeerAbortError);
    expect(error.message).toBe(fromPeer.message);
  });

  it.each([...ERROR_CODES, ...LOCAL_ERROR_CODES])('%s arrives with its class, code and message', (code) => {
    const original = localErrorFromCode(code, 'in the thread');
    const error = acrossThreads(original);
    expect(error.constructor).toBe(original.constructor);
    expect(error.code).toBe(code);
    expect(error.message).toBe('in the thread');
  });
});
