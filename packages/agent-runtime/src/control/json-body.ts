import type { IncomingMessage } from 'node:http';
import { controlError, oneLine, type ControlError } from './errors.js';

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Past this many bytes an oversized body is no longer read to its end before the 413 goes out: the answer
 * carries `Connection: close` and the rest is dropped with the connection. Below it the body is drained, so the
 * client (still writing) reads a clean 413 instead of a reset.
 */
const DRAIN_LIMIT = 1024 * 1024;

/**
 * Reads a POST/PATCH body as a JSON object. The content type must be JSON (`application/json` or
 * `application/*+json`, UTF-8) or absent; a body of zero bytes reads as `{}`, so requests without options need
 * no body at all.
 */
export async function readJsonObjectBody(
  req: IncomingMessage,
  limit = DEFAULT_BODY_LIMIT,
): Promise<Record<string, unknown>> {
  checkContentType(req.headers['content-type']);
  const bytes = await readBody(req, limit);
  if (bytes.length === 0) return {};
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('malformed JSON body: not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`malformed JSON body: ${oneLine(err instanceof Error ? err.message : String(err), 200)}`);
  }
  if (!isJsonObject(value)) throw badRequest(`request body must be a JSON object, got ${describeJsonType(value)}`);
  return value;
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "an array", "a string", "null", ... for messages about a value of the wrong JSON type. */
export function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'undefined') return 'nothing';
  return `a ${typeof value}`;
}

function checkContentType(header: string | undefined): void {
  if (header === undefined || header.trim() === '') return;
  const [mediaType = '', ...params] = header.split(';').map((part) => part.trim().toLowerCase());
  const isJson = mediaType === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(mediaType);
  if (!isJson) {
    throw controlError('LM_ERR_UNSUPPORTED_MEDIA_TYPE', `request body must be application/json, got ${oneLine(header, 100)}`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw controlError('LM_ERR_UNSUPPORTED_MEDIA_TYPE', `request body must be UTF-8, got charset ${oneLine(charset, 50)}`);
  }
}

/** The request body, at most `limit` bytes (LM_ERR_PAYLOAD_TOO_LARGE past it). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (close: boolean): ControlError =>
    controlError('LM_ERR_PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`, {
      headers: close ? { connection: 'close' } : {},
    });
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > Math.max(limit, DRAIN_LIMIT)) return Promise.reject(tooLarge(true));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      action();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
      } else {
        chunks.length = 0;
        if (size > Math.max(limit, DRAIN_LIMIT)) settle(() => reject(tooLarge(true)));
      }
    };
    req.on('data', onData);
    req.once('end', () => settle(() => (size > limit ? reject(tooLarge(false)) : resolve(Buffer.concat(chunks, size)))));
    req.once('error', (err) => settle(() => reject(badRequest(`request body not received: ${oneLine(err.message, 100)}`))));
    req.once('close', () => {
      if (!req.complete) settle(() => reject(badRequest('request body not received: connection closed')));
    });
  });
}

function badRequest(message: string): ControlError {
  return controlError('LM_ERR_BAD_REQUEST', message);
}
