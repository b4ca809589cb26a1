/**
 * vCPU worker thread: runs one workload program over its register file until the op limit, a STOP, or a
 * crash. Nothing that matters survives in locals across an op boundary; the pacing clock is the only
 * local state and it affects timing, never values.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { Command, COMMAND_WORD, stateWord, VcpuState } from './control.js';
import { GuestMemory, type SharedMemoryHandles } from './memory.js';
import { readU64, Reg, REGISTER_WORDS, writeU64 } from './registers.js';
import { opsPerSecond, type WorkloadSpec } from './workload-spec.js';
import { PROGRAMS } from './workloads/index.js';

export interface VcpuWorkerData {
  memory: SharedMemoryHandles;
  registers: SharedArrayBuffer;
  control: SharedArrayBuffer;
  index: number;
  vcpus: number;
  workload: WorkloadSpec;
}

/** Longest single sleep, so a paced vCPU re-reads its clock at least this often. */
const MAX_SLEEP_MS = 100;

function run(data: VcpuWorkerData): void {
  const memory = GuestMemory.attach(data.memory);
  const regs = new Uint32Array(data.registers, data.index * REGISTER_WORDS * 4, REGISTER_WORDS);
  const control = new Int32Array(data.control);
  const myState = stateWord(data.index);
  const op = PROGRAMS[data.workload.name]({
    regs,
    slots: memory.slots,
    slotWords: memory.slots.map((s) => new Uint32Array(s.buffer, s.byteOffset, s.byteLength >>> 2)),
    pagesPerSlot: memory.pagesPerSlot,
    dirty: new Int32Array(data.memory.dirty),
    params: data.workload.params,
    vcpus: data.vcpus,
  });
  const limit = readU64(regs, Reg.OPS_LIMIT_LO);
  const rate = opsPerSecond(data.workload, data.vcpus);
  const msPerOp = rate > 0 ? 1000 / rate : 0;

  const publish = (state: number): void => {
    Atomics.store(control, myState, state);
    Atomics.notify(control, myState);
  };

  let epoch = performance.now();
  let opsSinceEpoch = 0;
  publish(VcpuState.RUNNING);
  for (;;) {
    const command = Atomics.load(control, COMMAND_WORD);
    if (command === Command.STOP) {
      publish(VcpuState.STOPPED);
      return;
    }
    if (command === Command.PARK) {
      publish(VcpuState.PARKED);
      while (Atomics.load(control, COMMAND_WORD) === Command.PARK) Atomics.wait(control, COMMAND_WORD, Command.PARK);
      // Store RUNNING before the command is re-read at the top of the loop (see control.ts).
      Atomics.store(control, myState, VcpuState.RUNNING);
      epoch = performance.now();
      opsSinceEpoch = 0;
      continue;
    }
    const done = readU64(regs, Reg.OPS_DONE_LO);
    if (limit !== 0 && done >= limit) {
      publish(VcpuState.FINISHED);
      return;
    }
    if (msPerOp > 0) {
      const now = performance.now();
      const due = epoch + opsSinceEpoch * msPerOp;
      if (due - now >= 1) {
        // Sleep on the command word, so a PARK or STOP wakes the vCPU at once.
        Atomics.wait(control, COMMAND_WORD, Command.RUN, Math.min(due - now, MAX_SLEEP_MS));
        continue;
      }
      if (now - due > 1000) {
        // Fell more than a second behind (descheduled): do not burst to catch up.
        epoch = now;
        opsSinceEpoch = 0;
      }
    }
    op();
    writeU64(regs, Reg.OPS_DONE_LO, done + 1);
    opsSinceEpoch++;
  }
}

if (workerData) {
  run(workerData as VcpuWorkerData);
} else {
  // Spawned into a VcpuPool ahead of need: the code is loaded; run once a guest assigns this vCPU.
  parentPort!.once('message', (data: VcpuWorkerData) => run(data));
  parentPort!.postMessage('online');
}
