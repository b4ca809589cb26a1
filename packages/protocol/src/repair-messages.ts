import msgpack from 'msgpack-lite';
import { FrameType } from './constants.js';
import { encodeFrame } from './frame-encoder.js';
import { encodePageList } from './postcopy-messages.js';
import { bytes, fail, integer, own, record } from './validate.js';

/**
 * The repair step at commit (PROTOCOL.md, "Repair at commit"), spoken only when Accept agreed to
 * `direct-pages-v2`. When the destination's digest differs from Complete's it sends RepairRequest without pages;
 * the source answers with its per-page CRC table in RepairTable slices; the destination compares it with its own
 * and sends RepairRequest with the pages whose CRCs differ; the source sends those pages from its parked memory in
 * PageBatch frames (the plain form: the frame CRC covers their bytes) on the control connection, then RepairEnd.
 * The destination applies them and checks the digest again; after MAX_REPAIR_PASSES passes it gives up.
 */

/** Repair passes a destination asks for before it fails the migration with LM_ERR_REPAIR_FAILED. */
export const MAX_REPAIR_PASSES = 3;
/** Most CRCs in one RepairTable (1 MiB): a larger table goes in several slices, in page order. */
export const MAX_REPAIR_TABLE_PAGES = 262_144;
/** Most pages one repair pass re-sends (1 GiB): more differing pages than this are not a repair case. */
export const MAX_REPAIR_PAGES = 262_144;

/** dest -> source: `pages` absent: send your page table; present (ascending): send these pages again. */
export interface RepairRequestMessage { pass: number; pages?: Uint32Array }
/** source -> dest: the CRC-32 of pages `first .. first + crcs.length - 1`, as the source's table holds them. */
export interface RepairTableMessage { pass: number; first: number; crcs: Uint32Array }
/** source -> dest: the `pages` pages the request named went out before this, in PageBatch frames. */
export interface RepairEndMessage { pass: number; pages: number }

export type RepairFrame =
  | { type: typeof FrameType.RepairRequest; message: RepairRequestMessage }
  | { type: typeof FrameType.RepairTable; message: RepairTableMessage }
  | { type: typeof FrameType.RepairEnd; message: RepairEndMessage };

const pass = (o: Record<string, unknown>): number => integer(own(o, 'pass'), 'pass', 1, 255);

/** Big-endian u32s in one msgpack bin: 1..max of them, strictly ascending when `ascending`. */
function u32List(value: unknown, field: string, max: number, ascending: boolean): Uint32Array {
  const bin = bytes(value, field, max * 4);
  if (bin.length === 0 || bin.length % 4 !== 0) fail(field, `${bin.length} bytes is not 1..${max} u32 values`);
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const list = new Uint32Array(bin.length / 4);
  for (let i = 0; i < list.length; i++) {
    list[i] = view.getUint32(i * 4);
    if (ascending && i > 0 && list[i]! <= list[i - 1]!) fail(field, `${list[i]} after ${list[i - 1]}: not strictly ascending`);
  }
  return list;
}

export function validateRepairRequest(value: unknown): RepairRequestMessage {
  const o = record(value, 'message');
  const pages = own(o, 'pages');
  return pages === undefined || pages === null ? { pass: pass(o) } : { pass: pass(o), pages: u32List(pages, 'pages', MAX_REPAIR_PAGES, true) };
}

export function validateRepairTable(value: unknown): RepairTableMessage {
  const o = record(value, 'message');
  return { pass: pass(o), first: integer(own(o, 'first'), 'first', 0, 2 ** 32 - 1), crcs: u32List(own(o, 'crcs'), 'crcs', MAX_REPAIR_TABLE_PAGES, false) };
}

export function validateRepairEnd(value: unknown): RepairEndMessage {
  const o = record(value, 'message');
  return { pass: pass(o), pages: integer(own(o, 'pages'), 'pages', 0, MAX_REPAIR_PAGES) };
}

/** Decodes the msgpack value of a repair frame. @throws BadMessageError */
export function decodeRepairMessage(type: RepairFrame['type'], value: unknown): RepairFrame {
  switch (type) {
    case FrameType.RepairRequest:
      return { type, message: validateRepairRequest(value) };
    case FrameType.RepairTable:
      return { type, message: validateRepairTable(value) };
    case FrameType.RepairEnd:
      return { type, message: validateRepairEnd(value) };
  }
}

/** Encoders check with the decoders' rules, so a peer never receives what it would reject. */
const pack = (type: FrameType, fields: object): Buffer => encodeFrame(type, msgpack.encode(fields));

export function encodeRepairRequest(m: RepairRequestMessage): Buffer {
  const fields = m.pages === undefined ? { pass: m.pass } : { pass: m.pass, pages: encodePageList(m.pages) };
  validateRepairRequest(fields);
  return pack(FrameType.RepairRequest, fields);
}

export function encodeRepairTable(m: RepairTableMessage): Buffer {
  const fields = { pass: m.pass, first: m.first, crcs: encodePageList(m.crcs) };
  validateRepairTable(fields);
  return pack(FrameType.RepairTable, fields);
}

export const encodeRepairEnd = (m: RepairEndMessage): Buffer => pack(FrameType.RepairEnd, validateRepairEnd(m));
