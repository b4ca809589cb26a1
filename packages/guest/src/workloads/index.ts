import type { WorkloadName } from '../workload-spec.js';
import type { Program } from './context.js';
import { fileserver } from './fileserver.js';
import { hotcold } from './hotcold.js';
import { idle } from './idle.js';
import { incr } from './incr.js';
import { stream } from './stream.js';
import { uniform } from './uniform.js';

export type { Op, Program, VcpuContext } from './context.js';

/** The workload catalog: every program writes only its own partition, so runs are deterministic. */
export const PROGRAMS: Readonly<Record<WorkloadName, Program>> = Object.freeze({
  idle,
  uniform,
  hotcold,
  stream,
  incr,
  fileserver,
});
