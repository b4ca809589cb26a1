import msgpack from 'msgpack-lite';
import {
  FrameType,
  MAX_CAPABILITIES,
  MAX_DIGEST_CHARS,
  MAX_MEMORY_BYTES,
  MAX_REGISTER_FILE_BYTES,
  MAX_SHORT_STRING_CHARS,
  MAX_TEXT_CHARS,
  MAX_VCPUS,
  MAX_WORKLOAD_NAME_CHARS,
  MAX_WORKLOAD_PARAMS,
  PAGE_SIZE,
  frameTypeName,
} from './constants.js';
import { BadMessageError } from './errors.js';
import { encodeFrame } from './frame-encoder.js';
import { array, bytes, fail, finiteNumber, integer, lowerHex, own, record, string } from './validate.js';

/** pageSize must be 4096; memoryBytes and slotBytes are whole pages; memoryBytes <= 2**46; vcpus 1..256. */
export interface GuestGeometry { pageSize: number; memoryBytes: number; slotBytes: number; vcpus: number }
/** name <= 64 chars; seed and ops non-negative safe integers; params: <= 32 finite numbers. */
export interface WorkloadDescriptor { name: string; seed: number; ops: number; params: Record<string, number> }
export interface HelloMessage {
  protocolVersion: number;
  capabilities: string[];
  guestId: string;
  geometry: GuestGeometry;
  workload: WorkloadDescriptor;
  token?: string;
}
export interface AcceptMessage { reservationId: string; capabilities: string[] }
export interface RefuseMessage { code: string; message: string }
export interface RoundBeginMessage { round: number; pages: number }
export interface RoundEndMessage { round: number; pages: number }
/** One register file per vCPU, each a msgpack bin of at most 4096 bytes; at most 256 of them. */
export interface CpuStateMessage { registers: Uint8Array[] }
/** digest: lowercase hex. */
export interface CompleteMessage { digest: string; pagesSent: number }
export interface CommittedMessage { digest: string }
export interface ActivatedMessage { activatedAtMs: number }
export interface AbortMessage { code: string; message: string }

export type Frame =
  | { type: typeof FrameType.Hello; message: HelloMessage }
  | { type: typeof FrameType.Accept; message: AcceptMessage }
  | { type: typeof FrameType.Refuse; message: RefuseMessage }
  | { type: typeof FrameType.RoundBegin; message: RoundBeginMessage }
  /** Binary payload: decode with readPageBatch. */
  | { type: typeof FrameType.PageBatch; payload: Buffer }
  | { type: typeof FrameType.RoundEnd; message: RoundEndMessage }
  | { type: typeof FrameType.CpuState; message: CpuStateMessage }
  | { type: typeof FrameType.Complete; message: CompleteMessage }
  | { type: typeof FrameType.Committed; message: CommittedMessage }
  | { type: typeof FrameType.Activated; message: ActivatedMessage }
  | { type: typeof FrameType.Abort; message: AbortMessage };

const MAX_PAGES = MAX_MEMORY_BYTES / PAGE_SIZE;
const MAX_ROUND = 0xffffffff;

// ---- validation: unknown (decoded msgpack) -> typed message; extra fields are dropped ----

function capabilities(value: unknown, field: string): string[] {
  return array(value, field, MAX_CAPABILITIES).map((c, i) => string(c, `${field}[${i}]`, 1, MAX_SHORT_STRING_CHARS));
}

function wholePages(value: unknown, field: string, max: number): number {
  const n = integer(value, field, PAGE_SIZE, max);
  if (n % PAGE_SIZE !== 0) fail(field, `${n} is not a multiple of ${PAGE_SIZE}`);
  return n;
}

function geometry(value: unknown, field: string): GuestGeometry {
  const o = record(value, field);
  return {
    pageSize: integer(own(o, 'pageSize'), `${field}.pageSize`, PAGE_SIZE, PAGE_SIZE),
    memoryBytes: wholePages(own(o, 'memoryBytes'), `${field}.memoryBytes`, MAX_MEMORY_BYTES),
    slotBytes: wholePages(own(o, 'slotBytes'), `${field}.slotBytes`, MAX_MEMORY_BYTES),
    vcpus: integer(own(o, 'vcpus'), `${field}.vcpus`, 1, MAX_VCPUS),
  };
}

function workload(value: unknown, field: string): WorkloadDescriptor {
  const o = record(value, field);
  const rawParams = record(own(o, 'params'), `${field}.params`);
  const keys = Object.keys(rawParams);
  if (keys.length > MAX_WORKLOAD_PARAMS) fail(`${field}.params`, `${keys.length} keys, at most ${MAX_WORKLOAD_PARAMS}`);
  return {
    name: string(own(o, 'name'), `${field}.name`, 1, MAX_WORKLOAD_NAME_CHARS),
    seed: integer(own(o, 'seed'), `${field}.seed`, 0, Number.MAX_SAFE_INTEGER),
    ops: integer(own(o, 'ops'), `${field}.ops`, 0, Number.MAX_SAFE_INTEGER),
    // fromEntries defines own properties, so a '__proto__' key stays plain data.
    params: Object.fromEntries(keys.map((k) => [k, finiteNumber(rawParams[k], `${field}.params.${k}`)])),
  };
}

function codeAndMessage(value: unknown): { code: string; message: string } {
  const o = record(value, 'message');
  return {
    code: string(own(o, 'code'), 'code', 1, MAX_SHORT_STRING_CHARS),
    message: string(own(o, 'message'), 'message', 0, MAX_TEXT_CHARS),
  };
}

function round(value: unknown): { round: number; pages: number } {
  const o = record(value, 'message');
  return {
    round: integer(own(o, 'round'), 'round', 1, MAX_ROUND),
    pages: integer(own(o, 'pages'), 'pages', 0, MAX_PAGES),
  };
}

export function validateHello(value: unknown): HelloMessage {
  const o = record(value, 'message');
  const hello: HelloMessage = {
    protocolVersion: integer(own(o, 'protocolVersion'), 'protocolVersion', 1, 255),
    capabilities: capabilities(own(o, 'capabilities'), 'capabilities'),
    guestId: string(own(o, 'guestId'), 'guestId', 1, MAX_SHORT_STRING_CHARS),
    geometry: geometry(own(o, 'geometry'), 'geometry'),
    workload: workload(own(o, 'workload'), 'workload'),
  };
  // msgpack has no "undefined": an absent token and a nil token both mean "no token".
  const token = own(o, 'token');
  if (token !== undefined && token !== null) hello.token = string(token, 'token', 0, MAX_TEXT_CHARS);
  return hello;
}

export function validateAccept(value: unknown): AcceptMessage {
  const o = record(value, 'message');
  return {
    reservationId: string(own(o, 'reservationId'), 'reservationId', 1, MAX_SHORT_STRING_CHARS),
    capabilities: capabilities(own(o, 'capabilities'), 'capabilities'),
  };
}

export const validateRefuse: (value: unknown) => RefuseMessage = codeAndMessage;
export const validateAbort: (value: unknown) => AbortMessage = codeAndMessage;
export const validateRoundBegin: (value: unknown) => RoundBeginMessage = round;
export const validateRoundEnd: (value: unknown) => RoundEndMessage = round;

export function validateCpuState(value: unknown): CpuStateMessage {
  const o = record(value, 'message');
  const files = array(own(o, 'registers'), 'registers', MAX_VCPUS);
  // Copied so the message never pins (or aliases) the frame it came from.
  return { registers: files.map((f, i) => Buffer.from(bytes(f, `registers[${i}]`, MAX_REGISTER_FILE_BYTES))) };
}

export function validateComplete(value: unknown): CompleteMessage {
  const o = record(value, 'message');
  return {
    digest: lowerHex(own(o, 'digest'), 'digest', MAX_DIGEST_CHARS),
    pagesSent: integer(own(o, 'pagesSent'), 'pagesSent', 0, Number.MAX_SAFE_INTEGER),
  };
}

export function validateCommitted(value: unknown): CommittedMessage {
  return { digest: lowerHex(own(record(value, 'message'), 'digest'), 'digest', MAX_DIGEST_CHARS) };
}

export function validateActivated(value: unknown): ActivatedMessage {
  return { activatedAtMs: finiteNumber(own(record(value, 'message'), 'activatedAtMs'), 'activatedAtMs', 0) };
}

// ---- msgpack ----

/** No extension types: an ext on the wire decodes to an opaque value that fails every field check. */
const PLAIN_CODEC = msgpack.createCodec();

/** @throws BadMessageError on malformed msgpack or bytes after the single top-level value. */
function unpack(type: FrameType, payload: Buffer): unknown {
  const decoder = msgpack.Decoder({ codec: PLAIN_CODEC });
  decoder.write(payload);
  let value: unknown;
  try {
    value = (decoder as unknown as { fetch(): unknown }).fetch();
  } catch (cause) {
    const reason = cause instanceof Error && cause.message === 'BUFFER_SHORTAGE' ? 'truncated msgpack' : 'bad msgpack';
    throw new BadMessageError(`${reason} in ${frameTypeName(type)} payload`, { cause });
  }
  if (decoder.offset !== payload.length) {
    throw new BadMessageError(`${payload.length - decoder.offset} bytes after the msgpack value in ${frameTypeName(type)} payload`);
  }
  return value;
}

/**
 * Decodes the payload of a complete, CRC-checked frame.
 * @throws BadMessageError
 */
export function decodeFramePayload(type: FrameType, payload: Buffer): Frame {
  switch (type) {
    case FrameType.PageBatch:
      return { type, payload };
    case FrameType.Hello:
      return { type, message: validateHello(unpack(type, payload)) };
    case FrameType.Accept:
      return { type, message: validateAccept(unpack(type, payload)) };
    case FrameType.Refuse:
      return { type, message: validateRefuse(unpack(type, payload)) };
    case FrameType.RoundBegin:
      return { type, message: validateRoundBegin(unpack(type, payload)) };
    case FrameType.RoundEnd:
      return { type, message: validateRoundEnd(unpack(type, payload)) };
    case FrameType.CpuState:
      return { type, message: validateCpuState(unpack(type, payload)) };
    case FrameType.Complete:
      return { type, message: validateComplete(unpack(type, payload)) };
    case FrameType.Committed:
      return { type, message: validateCommitted(unpack(type, payload)) };
    case FrameType.Activated:
      return { type, message: validateActivated(unpack(type, payload)) };
    case FrameType.Abort:
      return { type, message: validateAbort(unpack(type, payload)) };
  }
}

// ---- encoders: the message is checked with the decoder's rules, so a peer never sees what it would reject ----

const pack = (type: FrameType, message: object): Buffer => encodeFrame(type, msgpack.encode(message));

/** Abort and Refuse carry free text (often an error's message): cut it to the limit instead of failing. */
const clipText = (text: string): string => (text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text);

export const encodeHello = (m: HelloMessage): Buffer => pack(FrameType.Hello, validateHello(m));
export const encodeAccept = (m: AcceptMessage): Buffer => pack(FrameType.Accept, validateAccept(m));
export const encodeRefuse = (m: RefuseMessage): Buffer =>
  pack(FrameType.Refuse, validateRefuse({ code: m.code, message: clipText(m.message) }));
export const encodeRoundBegin = (m: RoundBeginMessage): Buffer => pack(FrameType.RoundBegin, validateRoundBegin(m));
export const encodeRoundEnd = (m: RoundEndMessage): Buffer => pack(FrameType.RoundEnd, validateRoundEnd(m));
/** Register files go out as msgpack bin (a plain Uint8Array would become an ext type). */
export const encodeCpuState = (m: CpuStateMessage): Buffer => pack(FrameType.CpuState, validateCpuState(m));
export const encodeComplete = (m: CompleteMessage): Buffer => pack(FrameType.Complete, validateComplete(m));
export const encodeCommitted = (m: CommittedMessage): Buffer => pack(FrameType.Committed, validateCommitted(m));
export const encodeActivated = (m: ActivatedMessage): Buffer => pack(FrameType.Activated, validateActivated(m));
export const encodeAbort = (m: AbortMessage): Buffer =>
  pack(FrameType.Abort, validateAbort({ code: m.code, message: clipText(m.message) }));
