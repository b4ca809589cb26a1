import { PAGE_SIZE } from './constants.js';
import { GuestError, GuestErrorCode } from './errors.js';

/** The workload catalog's names (workloads/index.ts has one program per name), in the CLIs' order. */
export const WORKLOAD_NAMES = Object.freeze(['idle', 'uniform', 'hotcold', 'stream', 'incr', 'fileserver'] as const);
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface WorkloadSpec {
  name: WorkloadName;
  /** Seeds every vCPU's RNG (u32). */
  seed: number;
  /** Operations per vCPU; 0 = run forever. */
  ops: number;
  /**
   * Every parameter the workload reads, defaults filled in by parseWorkloadSpec. Every writing workload
   * takes `dirtyLog` (1 by default): 0 makes its vCPUs skip marking written pages dirty, for measuring
   * what dirty logging costs; `accessLog` likewise for the accessed bitmap. Such a guest cannot be migrated correctly (pre-copy would never resend a
   * rewritten page, the destination would diverge silently): a migration source must refuse it, see
   * dirtyLogEnabled.
   */
  params: Record<string, number>;
}

/** Workload code stored in every register file, so a register file names the program it belongs to. */
export const WORKLOAD_CODES: Readonly<Record<WorkloadName, number>> = Object.freeze({
  idle: 1,
  uniform: 2,
  hotcold: 3,
  stream: 4,
  incr: 5,
  fileserver: 6,
});

const MiB = 1024 * 1024;

/** Defaults, one table; a parameter not listed for a workload is rejected (typos must not go unnoticed). */
const DEFAULT_PARAMS: Readonly<Record<WorkloadName, Readonly<Record<string, number>>>> = Object.freeze({
  // One op = one RNG step, no writes; paced so `ops` still terminates in a known time.
  idle: { opsRate: 1000 },
  uniform: { dirtyRate: 32 * MiB, dirtyLog: 1, accessLog: 1 },
  // Clark et al.'s Quake server: a small hot set takes most writes.
  hotcold: { dirtyRate: 64 * MiB, hotFraction: 0.95, hotBytes: 4 * MiB, dirtyLog: 1, accessLog: 1 },
  // Both dirty faster than a network drains them unless throttled.
  stream: { dirtyRate: 0, dirtyLog: 1, accessLog: 1 },
  incr: { dirtyRate: 0, dirtyLog: 1, accessLog: 1 },
  // The guest kernel's file server (kernel/, workloads/fileserver.ts): sizes for the whole guest, split over
  // the vCPUs. hintIntervalMs: soft-page hints; irqAck 0 and lieSoft 1 make a guest that never answers the
  // pre-suspend interrupt or calls its anonymous pages soft (to test the host).
  fileserver: {
    dirtyRate: 0,
    dirtyLog: 1,
    diskBytes: 16 * MiB,
    cacheBytes: 8 * MiB,
    anonBytes: 4 * MiB,
    hintIntervalMs: 50,
    irqAck: 1,
    lieSoft: 0,
  },
});

/** Largest `ops`: the register file holds it as two u32 words. */
export const MAX_OPS = Number.MAX_SAFE_INTEGER;

function bad(message: string): GuestError {
  return new GuestError(GuestErrorCode.BAD_WORKLOAD, message);
}

function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

/**
 * Validates a workload description from a CLI, config or peer, and fills in default parameters.
 * @throws GuestError LM_ERR_BAD_WORKLOAD on an unknown name, a bad seed or ops, or an unknown or out-of-range parameter
 */
export function parseWorkloadSpec(value: {
  name: string;
  seed: number;
  ops: number;
  params: Record<string, number>;
}): WorkloadSpec {
  if (value === null || typeof value !== 'object') throw bad('workload must be an object');
  const { name, seed, ops } = value;
  if (typeof name !== 'string' || !isWorkloadName(name)) {
    throw bad(`unknown workload ${JSON.stringify(name)}; expected one of ${WORKLOAD_NAMES.join(', ')}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw bad(`seed ${seed} is not a u32`);
  if (!Number.isInteger(ops) || ops < 0 || ops > MAX_OPS) throw bad(`ops ${ops} is not an integer in 0..${MAX_OPS}`);
  const given = value.params ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw bad('params must be an object');
  const defaults = DEFAULT_PARAMS[name];
  const params: Record<string, number> = { ...defaults };
  for (const [key, v] of Object.entries(given)) {
    if (!Object.hasOwn(defaults, key)) {
      throw bad(`workload ${name} has no parameter ${JSON.stringify(key)}; known: ${Object.keys(defaults).join(', ')}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`parameter ${key} must be a finite number`);
    params[key] = v;
  }
  checkParam(params, 'dirtyRate', (v) => v >= 0, 'a rate in bytes/s >= 0 (0 = unthrottled)');
  checkParam(params, 'opsRate', (v) => v > 0, 'a rate in ops/s > 0');
  checkParam(params, 'hotFraction', (v) => v >= 0 && v <= 1, 'a fraction in [0, 1]');
  checkParam(params, 'hotBytes', (v) => Number.isSafeInteger(v) && v >= PAGE_SIZE, `an integer >= ${PAGE_SIZE}`);
  for (const key of ['diskBytes', 'cacheBytes', 'anonBytes']) {
    checkParam(params, key, (v) => Number.isSafeInteger(v) && v >= 0 && v % PAGE_SIZE === 0, `a multiple of ${PAGE_SIZE} >= 0`);
  }
  checkParam(params, 'hintIntervalMs', (v) => v >= 0, 'a duration in ms >= 0 (0: no periodic hint)');
  checkParam(params, 'irqAck', (v) => v === 0 || v === 1, '1 (answer the pre-suspend interrupt) or 0');
  checkParam(params, 'lieSoft', (v) => v === 0 || v === 1, '0 (honest hints) or 1 (anonymous pages called soft)');
  checkParam(params, 'dirtyLog', (v) => v === 0 || v === 1, '1 (mark written pages dirty) or 0 (measurement only)');
  checkParam(params, 'accessLog', (v) => v === 0 || v === 1, '1 (mark read and written pages accessed) or 0 (measurement only)');
  return { name, seed, ops, params };
}

function checkParam(params: Record<string, number>, key: string, ok: (v: number) => boolean, what: string): void {
  const v = params[key];
  if (v !== undefined && !ok(v)) throw bad(`parameter ${key}=${v} must be ${what}`);
}

/**
 * Whether the guest's vCPUs mark the pages they write dirty. A migration source must refuse a guest for
 * which this is false: its dirty log misses writes, so pre-copy would leave stale pages at the destination.
 * Workloads that write nothing (idle) log trivially.
 */
export function dirtyLogEnabled(spec: WorkloadSpec): boolean {
  return spec.params['dirtyLog'] !== 0;
}

/**
 * Whether the guest's vCPUs mark the pages they read and write in the accessed bitmap (workload param
 * accessLog, 1 by default; 0 only to measure what it costs). Without it the working-set prediction sees no
 * accesses: its working set stays empty and the framework behaves as plain pre-copy.
 */
export function accessLogEnabled(spec: WorkloadSpec): boolean {
  return spec.params['accessLog'] !== 0;
}

/** Operations per second one vCPU is paced to; 0 = unthrottled. Pacing never changes what is written. */
export function opsPerSecond(spec: WorkloadSpec, vcpus: number): number {
  if (spec.name === 'idle') return spec.params['opsRate'] ?? 0;
  const dirtyRate = spec.params['dirtyRate'] ?? 0;
  // Each op dirties one page: pages/s for the whole guest, split over the vCPUs.
  return dirtyRate / PAGE_SIZE / vcpus;
}
