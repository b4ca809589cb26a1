import { GuestError, GuestErrorCode } from './errors.js';
import { WORKLOAD_CODES, type WorkloadSpec } from './workload-spec.js';

/**
 * Register file of one vCPU: 16 u32 words in shared memory, native byte order (little-endian on every
 * host this project targets). It is the vCPU's WHOLE state: at every operation boundary it is complete,
 * so a fresh worker (here or on another host) resumes from it exactly where the old one stopped.
 */
export const Reg = {
  /** REGISTER_MAGIC: marks a register file of this layout. */
  MAGIC: 0,
  /** WORKLOAD_CODES[name] of the program. */
  WORKLOAD: 1,
  VCPU_INDEX: 2,
  VCPU_COUNT: 3,
  /** First page of the partition this vCPU alone writes. */
  PART_START: 4,
  /** Pages in the partition. */
  PART_LEN: 5,
  OPS_DONE_LO: 6,
  OPS_DONE_HI: 7,
  /** 0 = run forever. */
  OPS_LIMIT_LO: 8,
  OPS_LIMIT_HI: 9,
  /** xorshift128 state (Marsaglia 2003), never all zero. */
  RNG0: 10,
  RNG1: 11,
  RNG2: 12,
  RNG3: 13,
  /** Program counter of sweeping workloads: next page, relative to PART_START. */
  CURSOR: 14,
  /** Completed sweeps of the partition (stream). */
  PASS: 15,
} as const;

export const REGISTER_WORDS = 16;
export const REGISTER_FILE_BYTES = REGISTER_WORDS * 4;
export const REGISTER_MAGIC = 0x4c4d5247; // 'LMRG'

/**
 * Layout of a guest's shared register buffer: file i at REGISTER_PAD_BYTES + i * REGISTER_STRIDE_BYTES,
 * with a cache line of padding before the first file, between files and after the last. Every op stores to
 * its file, so whatever the buffer's alignment no other vCPU's file and no neighbouring allocation may share
 * a 64-byte line with it: a shared line bounces between cores (false sharing), and unpadded the throughput
 * of a flat-out guest depended on where the buffer happened to land.
 */
const REGISTER_PAD_BYTES = 64;
const REGISTER_STRIDE_BYTES = REGISTER_FILE_BYTES + REGISTER_PAD_BYTES;

export function registerBufferBytes(vcpus: number): number {
  return REGISTER_PAD_BYTES + vcpus * REGISTER_STRIDE_BYTES;
}

/** Byte offset of vCPU `index`'s register file in the shared register buffer. */
export function registerFileOffset(index: number): number {
  return REGISTER_PAD_BYTES + index * REGISTER_STRIDE_BYTES;
}

/** Register files of all vCPUs, copied out of shared memory. */
export type CpuState = Uint8Array[];

const TWO_32 = 2 ** 32;

export function readU64(regs: Uint32Array, lo: number): number {
  return (regs[lo + 1] ?? 0) * TWO_32 + (regs[lo] ?? 0);
}

export function writeU64(regs: Uint32Array, lo: number, value: number): void {
  regs[lo] = value >>> 0;
  regs[lo + 1] = Math.floor(value / TWO_32);
}

/** Ops done, read with atomic loads so a running vCPU's counter can be sampled (the pair may be one op stale). */
export function loadOpsDone(regs: Uint32Array): number {
  const hi = Atomics.load(regs, Reg.OPS_DONE_HI);
  const lo = Atomics.load(regs, Reg.OPS_DONE_LO);
  return hi * TWO_32 + lo;
}

/** Partition of vCPU i of n over P pages: [floor(i*P/n), floor((i+1)*P/n)). Disjoint, covers every page. */
export function partition(index: number, vcpus: number, pageCount: number): { start: number; length: number } {
  const start = Math.floor((index * pageCount) / vcpus);
  const end = Math.floor(((index + 1) * pageCount) / vcpus);
  return { start, length: end - start };
}

/** splitmix32-style finaliser: spreads (seed, vCPU index) over the four RNG words. */
function mix(h: number): number {
  let z = h;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Registers of a fresh boot: a pure function of (workload, seed, vCPU index, vCPU count, pageCount). */
export function freshRegisters(spec: WorkloadSpec, index: number, vcpus: number, pageCount: number): Uint32Array {
  const regs = new Uint32Array(REGISTER_WORDS);
  const { start, length } = partition(index, vcpus, pageCount);
  regs[Reg.MAGIC] = REGISTER_MAGIC;
  regs[Reg.WORKLOAD] = WORKLOAD_CODES[spec.name];
  regs[Reg.VCPU_INDEX] = index;
  regs[Reg.VCPU_COUNT] = vcpus;
  regs[Reg.PART_START] = start;
  regs[Reg.PART_LEN] = length;
  writeU64(regs, Reg.OPS_LIMIT_LO, spec.ops);
  let h = (spec.seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  for (let k = 0; k < 4; k++) {
    h = (h + 0x9e3779b9) >>> 0;
    regs[Reg.RNG0 + k] = mix(h);
  }
  if ((regs[Reg.RNG0]! | regs[Reg.RNG1]! | regs[Reg.RNG2]! | regs[Reg.RNG3]!) === 0) regs[Reg.RNG0] = 1;
  return regs;
}

/** A register file as u32 words (copied, so a byte array at any offset works). */
export function registerWords(file: Uint8Array): Uint32Array {
  const words = new Uint32Array(REGISTER_WORDS);
  new Uint8Array(words.buffer).set(file.subarray(0, REGISTER_FILE_BYTES));
  return words;
}

function badState(message: string): GuestError {
  return new GuestError(GuestErrorCode.BAD_CPU_STATE, message);
}

const KNOWN_CODES = new Set(Object.values(WORKLOAD_CODES));

/**
 * Checks CPU state from a peer before any worker runs it: a vCPU must never write outside its own
 * partition, so the partition must be exactly the one this geometry gives vCPU i, and every counter in range.
 * @throws GuestError LM_ERR_BAD_CPU_STATE
 */
export function validateCpuState(state: CpuState, vcpus: number, pageCount: number): void {
  if (!Array.isArray(state)) throw badState('CPU state must be an array of register files');
  if (state.length !== vcpus) throw badState(`CPU state has ${state.length} register files, guest has ${vcpus} vCPUs`);
  let code: number | undefined;
  state.forEach((file, i) => {
    if (!(file instanceof Uint8Array) || file.byteLength !== REGISTER_FILE_BYTES) {
      throw badState(`register file ${i} is not ${REGISTER_FILE_BYTES} bytes`);
    }
    const regs = registerWords(file);
    const at = (what: string): GuestError => badState(`register file ${i}: ${what}`);
    if (regs[Reg.MAGIC] !== REGISTER_MAGIC) throw at('bad magic');
    const fileCode = regs[Reg.WORKLOAD] as number;
    if (!KNOWN_CODES.has(fileCode)) throw at(`unknown workload code ${fileCode}`);
    if (code !== undefined && fileCode !== code) throw at('workload differs from register file 0');
    code = fileCode;
    if (regs[Reg.VCPU_INDEX] !== i) throw at(`vCPU index ${regs[Reg.VCPU_INDEX]}`);
    if (regs[Reg.VCPU_COUNT] !== vcpus) throw at(`vCPU count ${regs[Reg.VCPU_COUNT]}`);
    const { start, length } = partition(i, vcpus, pageCount);
    if (regs[Reg.PART_START] !== start || regs[Reg.PART_LEN] !== length) {
      throw at(`partition [${regs[Reg.PART_START]}, +${regs[Reg.PART_LEN]}) is not [${start}, +${length}) of ${pageCount} pages`);
    }
    if ((regs[Reg.CURSOR] as number) >= length) throw at(`cursor ${regs[Reg.CURSOR]} outside the partition`);
    if ((regs[Reg.OPS_DONE_HI] as number) >= 2 ** 21 || (regs[Reg.OPS_LIMIT_HI] as number) >= 2 ** 21) {
      throw at('operation counter beyond 2^53');
    }
    const limit = readU64(regs, Reg.OPS_LIMIT_LO);
    if (limit !== 0 && readU64(regs, Reg.OPS_DONE_LO) > limit) throw at('ops done exceeds the ops limit');
    if ((regs[Reg.RNG0]! | regs[Reg.RNG1]! | regs[Reg.RNG2]! | regs[Reg.RNG3]!) === 0) throw at('RNG state is all zero');
  });
}

/** Register files that validate and belong to this workload (same program, same ops limit). */
export function checkCpuStateFits(state: CpuState, vcpus: number, pageCount: number, workload: WorkloadSpec): void {
  validateCpuState(state, vcpus, pageCount);
  state.forEach((file, i) => {
    const regs = registerWords(file);
    if (regs[Reg.WORKLOAD] !== WORKLOAD_CODES[workload.name]) {
      throw new GuestError(GuestErrorCode.BAD_CPU_STATE, `register file ${i} is not a ${workload.name} vCPU`);
    }
    if (readU64(regs, Reg.OPS_LIMIT_LO) !== workload.ops) {
      throw new GuestError(GuestErrorCode.BAD_CPU_STATE, `register file ${i} has an ops limit other than ${workload.ops}`);
    }
  });
}
