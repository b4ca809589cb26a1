import msgpack from 'msgpack-lite';
import {
  FrameType,
  MAX_CAPABILITIES,
  MAX_CHANNEL_NUMBER,
  MAX_CHANNELS,
  MAX_DIGEST_CHARS,
  MAX_MEMORY_BYTES,
  MAX_REGISTER_FILE_BYTES,
  MAX_SHORT_STRING_CHARS,
  MAX_TEXT_CHARS,
  MAX_WIRE_VCPUS,
  MAX_WORKLOAD_NAME_CHARS,
  MAX_WORKLOAD_PARAMS,
  PAGE_SIZE,
  frameTypeName,
} from './constants.js';
import {
  commitNonce,
  commitProof,
  migrationId,
  refuseObsoleteToken,
  validateConfirm,
  validateOutcome,
  validateOutcomeQuery,
  type ConfirmMessage,
  type OutcomeMessage,
  type OutcomeQueryMessage,
} from './commit-messages.js';
import { BadMessageError } from './errors.js';
import {
  validatePostcopyReceived,
  validatePostcopyResume,
  type PostcopyReceivedMessage,
  type PostcopyResumeMessage,
} from './postcopy-recovery-messages.js';
import {
  validatePageRequest,
  validatePostcopyDiscard,
  validatePostcopyDone,
  validatePostcopyEnd,
  validatePostcopyRun,
  validateUrgentHello,
  type PageRequestMessage,
  type PostcopyDiscardMessage,
  type PostcopyDoneMessage,
  type PostcopyEndMessage,
  type PostcopyRunMessage,
  type UrgentHelloMessage,
} from './postcopy-messages.js';
import { encodeFrame } from './frame-encoder.js';
import { decodeRepairMessage, type RepairFrame } from './repair-messages.js';
import { validateRoundAck, type RoundAckMessage } from './round-ack-messages.js';
import { array, boolean, bytes, fail, finiteNumber, integer, lowerHex, own, record, string } from './validate.js';

/** pageSize must be 4096; memoryBytes and slotBytes are whole pages; memoryBytes <= 2**46; vcpus 1..256. */
export interface GuestGeometry { pageSize: number; memoryBytes: number; slotBytes: number; vcpus: number }
/** name <= 64 chars; seed and ops non-negative safe integers; params: <= 32 finite numbers. */
export interface WorkloadDescriptor { name: string; seed: number; ops: number; params: Record<string, number> }
export interface HelloMessage {
  protocolVersion: number;
  capabilities: string[];
  guestId: string;
  /** The source's id for this migration, fresh for each attempt: what the destination journals the outcome under. */
  migrationId: string;
  geometry: GuestGeometry;
  workload: WorkloadDescriptor;
  /** Data channels the source wants, 1..16. Absent on the wire: 1. */
  channels: number;
}
/**
 * channelPorts: one TCP port per data channel (1..65535), 1..16 entries. Absent on the wire: []. urgentPort:
 * the port of the post-copy urgent connection, only when `postcopy-v1` is agreed.
 */
export interface AcceptMessage { reservationId: string; capabilities: string[]; channelPorts: number[]; urgentPort?: number }
/** First frame on a data-channel connection: the reservation it belongs to and its channel number (0..63). */
export interface ChannelHelloMessage { reservationId: string; channel: number }
export interface RefuseMessage { code: string; message: string }
export interface RoundBeginMessage { round: number; pages: number }
export interface RoundEndMessage { round: number; pages: number }
/**
 * One register file per vCPU, each a msgpack bin of at most 4096 bytes; at most 256 of them. `running`: whether
 * the vCPUs were running when the source parked them for stop-and-copy (a paused guest stays paused at the
 * destination). Absent on the wire: true.
 */
export interface CpuStateMessage { registers: Uint8Array[]; running: boolean }
/**
 * digest: lowercase hex. rounds: rounds every channel carried, the final one included. Absent on the wire: 0.
 * nonce: 32 lowercase hex characters, fresh for this migration (newCommitNonce); Committed's proof covers it.
 */
export interface CompleteMessage { digest: string; pagesSent: number; rounds: number; nonce: string }
/** digest: the image digest the destination verified. proof: PageChecksums.proof of Complete's nonce, over its own table. */
export interface CommittedMessage { digest: string; proof: string }
export interface ActivatedMessage { activatedAtMs: number }
export interface AbortMessage { code: string; message: string }

/**
 * What the encoders accept: the fields added after the first release may be left out, and are then not
 * written (a decoder supplies the documented default).
 */
export type HelloInput = Omit<HelloMessage, 'channels'> & { channels?: number };
export type AcceptInput = Omit<AcceptMessage, 'channelPorts'> & { channelPorts?: number[] };
export type CpuStateInput = Omit<CpuStateMessage, 'running'> & { running?: boolean };
export type CompleteInput = Omit<CompleteMessage, 'rounds'> & { rounds?: number };

export type Frame =
  | { type: typeof FrameType.Hello; message: HelloMessage }
  | { type: typeof FrameType.Accept; message: AcceptMessage }
  | { type: typeof FrameType.Refuse; message: RefuseMessage }
  | { type: typeof FrameType.ChannelHello; message: ChannelHelloMessage }
  | { type: typeof FrameType.RoundBegin; message: RoundBeginMessage }
  /**
   * Binary payload: decode with readPageBatch. `rawPageCrcs`: each Raw page's CRC-32, in entry order, taken during
   * the frame check. `rawAt`: a PageBatchDirect's raw region's start in the payload. `rawPlaced`: per Raw entry, 1
   * when the page was read straight into guest memory (FrameDecoder.placeRawPagesIn; its CRC entry is then -1).
   */
  | { type: typeof FrameType.PageBatch; payload: Buffer; rawPageCrcs: ArrayLike<number>; rawAt?: number; rawPlaced?: Uint8Array }
  | { type: typeof FrameType.RoundEnd; message: RoundEndMessage }
  | { type: typeof FrameType.RoundAck; message: RoundAckMessage }
  | { type: typeof FrameType.CpuState; message: CpuStateMessage }
  | { type: typeof FrameType.Complete; message: CompleteMessage }
  | { type: typeof FrameType.Committed; message: CommittedMessage }
  | { type: typeof FrameType.Activated; message: ActivatedMessage }
  | { type: typeof FrameType.Confirm; message: ConfirmMessage }
  | { type: typeof FrameType.OutcomeQuery; message: OutcomeQueryMessage }
  | { type: typeof FrameType.Outcome; message: OutcomeMessage }
  | { type: typeof FrameType.PostcopyDiscard; message: PostcopyDiscardMessage }
  | { type: typeof FrameType.PostcopyRun; message: PostcopyRunMessage }
  | { type: typeof FrameType.UrgentHello; message: UrgentHelloMessage }
  | { type: typeof FrameType.PageRequest; message: PageRequestMessage }
  | { type: typeof FrameType.PostcopyEnd; message: PostcopyEndMessage }
  | { type: typeof FrameType.PostcopyDone; message: PostcopyDoneMessage }
  | { type: typeof FrameType.PostcopyResume; message: PostcopyResumeMessage }
  | { type: typeof FrameType.PostcopyReceived; message: PostcopyReceivedMessage }
  | RepairFrame
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
    vcpus: integer(own(o, 'vcpus'), `${field}.vcpus`, 1, MAX_WIRE_VCPUS),
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

/**
 * Optional fields: msgpack has no "undefined", so absent and nil both mean "not given". The `*Fields`
 * validators keep a field absent when it was not given (what an encoder writes); the `validate*` ones used by
 * the decoder fill in the documented default.
 */
const given = (value: unknown): boolean => value !== undefined && value !== null;

function helloFields(value: unknown): HelloInput {
  const o = record(value, 'message');
  refuseObsoleteToken(o);
  const hello: HelloInput = {
    protocolVersion: integer(own(o, 'protocolVersion'), 'protocolVersion', 1, 255),
    capabilities: capabilities(own(o, 'capabilities'), 'capabilities'),
    guestId: string(own(o, 'guestId'), 'guestId', 1, MAX_SHORT_STRING_CHARS),
    migrationId: migrationId(own(o, 'migrationId'), 'migrationId'),
    geometry: geometry(own(o, 'geometry'), 'geometry'),
    workload: workload(own(o, 'workload'), 'workload'),
  };
  const channels = own(o, 'channels');
  if (given(channels)) hello.channels = integer(channels, 'channels', 1, MAX_CHANNELS);
  return hello;
}

export function validateHello(value: unknown): HelloMessage {
  const hello = helloFields(value);
  return { ...hello, channels: hello.channels ?? 1 };
}

function acceptFields(value: unknown): AcceptInput {
  const o = record(value, 'message');
  const accept: AcceptInput = {
    reservationId: string(own(o, 'reservationId'), 'reservationId', 1, MAX_SHORT_STRING_CHARS),
    capabilities: capabilities(own(o, 'capabilities'), 'capabilities'),
  };
  const ports = own(o, 'channelPorts');
  if (given(ports)) {
    const list = array(ports, 'channelPorts', MAX_CHANNELS);
    if (list.length === 0) fail('channelPorts', `0 entries, at least 1`);
    accept.channelPorts = list.map((p, i) => integer(p, `channelPorts[${i}]`, 1, 65535));
  }
  const urgentPort = own(o, 'urgentPort');
  if (given(urgentPort)) accept.urgentPort = integer(urgentPort, 'urgentPort', 1, 65535);
  return accept;
}

export function validateAccept(value: unknown): AcceptMessage {
  const accept = acceptFields(value);
  return { ...accept, channelPorts: accept.channelPorts ?? [] };
}

export function validateChannelHello(value: unknown): ChannelHelloMessage {
  const o = record(value, 'message');
  return {
    reservationId: string(own(o, 'reservationId'), 'reservationId', 1, MAX_SHORT_STRING_CHARS),
    channel: integer(own(o, 'channel'), 'channel', 0, MAX_CHANNEL_NUMBER),
  };
}

export const validateRefuse: (value: unknown) => RefuseMessage = codeAndMessage;
export const validateAbort: (value: unknown) => AbortMessage = codeAndMessage;
export const validateRoundBegin: (value: unknown) => RoundBeginMessage = round;
export const validateRoundEnd: (value: unknown) => RoundEndMessage = round;

function cpuStateFields(value: unknown): CpuStateInput {
  const o = record(value, 'message');
  const files = array(own(o, 'registers'), 'registers', MAX_WIRE_VCPUS);
  // Copied so the message never pins (or aliases) the frame it came from.
  const cpu: CpuStateInput = { registers: files.map((f, i) => Buffer.from(bytes(f, `registers[${i}]`, MAX_REGISTER_FILE_BYTES))) };
  const running = own(o, 'running');
  if (given(running)) cpu.running = boolean(running, 'running');
  return cpu;
}

export function validateCpuState(value: unknown): CpuStateMessage {
  const cpu = cpuStateFields(value);
  return { ...cpu, running: cpu.running ?? true };
}

function completeFields(value: unknown): CompleteInput {
  const o = record(value, 'message');
  const digest = lowerHex(own(o, 'digest'), 'digest', MAX_DIGEST_CHARS);
  const pagesSent = integer(own(o, 'pagesSent'), 'pagesSent', 0, Number.MAX_SAFE_INTEGER);
  const rounds = own(o, 'rounds');
  return {
    digest,
    pagesSent,
    ...(given(rounds) ? { rounds: integer(rounds, 'rounds', 1, MAX_ROUND) } : {}),
    nonce: commitNonce(own(o, 'nonce'), 'nonce'),
  };
}

export function validateComplete(value: unknown): CompleteMessage {
  const complete = completeFields(value);
  return { ...complete, rounds: complete.rounds ?? 0 };
}

export function validateCommitted(value: unknown): CommittedMessage {
  const o = record(value, 'message');
  return { digest: lowerHex(own(o, 'digest'), 'digest', MAX_DIGEST_CHARS), proof: commitProof(own(o, 'proof'), 'proof') };
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
 * Decodes the payload of a complete, CRC-checked frame other than a PageBatch (see FrameDecoder).
 * @throws BadMessageError
 */
export function decodeMessagePayload(type: Exclude<FrameType, typeof FrameType.PageBatch | typeof FrameType.PageBatchDirect>, payload: Buffer): Frame {
  switch (type) {
    case FrameType.Hello:
      return { type, message: validateHello(unpack(type, payload)) };
    case FrameType.Accept:
      return { type, message: validateAccept(unpack(type, payload)) };
    case FrameType.Refuse:
      return { type, message: validateRefuse(unpack(type, payload)) };
    case FrameType.ChannelHello:
      return { type, message: validateChannelHello(unpack(type, payload)) };
    case FrameType.RoundBegin:
      return { type, message: validateRoundBegin(unpack(type, payload)) };
    case FrameType.RoundEnd:
      return { type, message: validateRoundEnd(unpack(type, payload)) };
    case FrameType.RoundAck:
      return { type, message: validateRoundAck(unpack(type, payload)) };
    case FrameType.CpuState:
      return { type, message: validateCpuState(unpack(type, payload)) };
    case FrameType.Complete:
      return { type, message: validateComplete(unpack(type, payload)) };
    case FrameType.Committed:
      return { type, message: validateCommitted(unpack(type, payload)) };
    case FrameType.Activated:
      return { type, message: validateActivated(unpack(type, payload)) };
    case FrameType.Confirm:
      return { type, message: validateConfirm(unpack(type, payload)) };
    case FrameType.OutcomeQuery:
      return { type, message: validateOutcomeQuery(unpack(type, payload)) };
    case FrameType.Outcome:
      return { type, message: validateOutcome(unpack(type, payload)) };
    case FrameType.PostcopyDiscard:
      return { type, message: validatePostcopyDiscard(unpack(type, payload)) };
    case FrameType.PostcopyRun:
      return { type, message: validatePostcopyRun(unpack(type, payload)) };
    case FrameType.UrgentHello:
      return { type, message: validateUrgentHello(unpack(type, payload)) };
    case FrameType.PageRequest:
      return { type, message: validatePageRequest(unpack(type, payload)) };
    case FrameType.PostcopyEnd:
      return { type, message: validatePostcopyEnd(unpack(type, payload)) };
    case FrameType.PostcopyDone:
      return { type, message: validatePostcopyDone(unpack(type, payload)) };
    case FrameType.PostcopyResume:
      return { type, message: validatePostcopyResume(unpack(type, payload)) };
    case FrameType.PostcopyReceived:
      return { type, message: validatePostcopyReceived(unpack(type, payload)) };
    case FrameType.RepairRequest:
    case FrameType.RepairTable:
    case FrameType.RepairEnd:
      return decodeRepairMessage(type, unpack(type, payload));
    case FrameType.Abort:
      return { type, message: validateAbort(unpack(type, payload)) };
  }
}

// ---- encoders: the message is checked with the decoder's rules, so a peer never sees what it would reject ----

const pack = (type: FrameType, message: object): Buffer => encodeFrame(type, msgpack.encode(message));

/** Abort and Refuse carry free text (often an error's message): cut it to the limit instead of failing. */
const clipText = (text: string): string => (text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text);

export const encodeHello = (m: HelloInput): Buffer => pack(FrameType.Hello, helloFields(m));
export const encodeAccept = (m: AcceptInput): Buffer => pack(FrameType.Accept, acceptFields(m));
export const encodeChannelHello = (m: ChannelHelloMessage): Buffer => pack(FrameType.ChannelHello, validateChannelHello(m));
export const encodeRefuse = (m: RefuseMessage): Buffer =>
  pack(FrameType.Refuse, validateRefuse({ code: m.code, message: clipText(m.message) }));
export const encodeRoundBegin = (m: RoundBeginMessage): Buffer => pack(FrameType.RoundBegin, validateRoundBegin(m));
export const encodeRoundEnd = (m: RoundEndMessage): Buffer => pack(FrameType.RoundEnd, validateRoundEnd(m));
/** Register files go out as msgpack bin (a plain Uint8Array would become an ext type). */
export const encodeCpuState = (m: CpuStateInput): Buffer => pack(FrameType.CpuState, cpuStateFields(m));
export const encodeComplete = (m: CompleteInput): Buffer => pack(FrameType.Complete, completeFields(m));
export const encodeCommitted = (m: CommittedMessage): Buffer => pack(FrameType.Committed, validateCommitted(m));
export const encodeActivated = (m: ActivatedMessage): Buffer => pack(FrameType.Activated, validateActivated(m));
export const encodeConfirm = (m: ConfirmMessage): Buffer => pack(FrameType.Confirm, validateConfirm(m));
export const encodeOutcomeQuery = (m: OutcomeQueryMessage): Buffer => pack(FrameType.OutcomeQuery, validateOutcomeQuery(m));
export const encodeOutcome = (m: OutcomeMessage): Buffer =>
  pack(FrameType.Outcome, validateOutcome(m.reason === undefined ? m : { ...m, reason: clipText(m.reason) }));
export const encodeAbort = (m: AbortMessage): Buffer =>
  pack(FrameType.Abort, validateAbort({ code: m.code, message: clipText(m.message) }));
