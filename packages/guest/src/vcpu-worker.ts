/**
 * vCPU worker thread: runs one workload program over its register file until the op limit, a STOP, or a
 * crash. Nothing that matters survives in locals across an op boundary; the pacing and throttle clocks are
 * the only local state and they affect timing, never values.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import {
  Command,
  COMMAND_WORD,
  EPOCH_WORD,
  epochAckWord,
  controlView,
  stateWord,
  THROTTLE_WORD,
  ThrottleCounter,
  throttleCounterWord,
  VcpuState,
} from './control.js';
import { GuestMemory, type SharedMemoryHandles } from './memory.js';
import { readU64, Reg, registerFileOffset, REGISTER_WORDS, writeU64 } from './registers.js';
import { AccessMarker } from './access-marker.js';
import { DirtyMarker } from './dirty-marker.js';
import { PresentBarrier } from './present-barrier.js';
import type { PresentMapHandles } from './present-map.js';
import { ThrottleClock } from './throttle.js';
import { accessLogEnabled, dirtyLogEnabled, opsPerSecond, type WorkloadSpec } from './workload-spec.js';
import { PROGRAMS } from './workloads/index.js';

export interface VcpuWorkerData {
  memory: SharedMemoryHandles;
  registers: SharedArrayBuffer;
  control: SharedArrayBuffer;
  index: number;
  vcpus: number;
  workload: WorkloadSpec;
  /** The post-copy present map; without it the access barrier is off for good. */
  present?: PresentMapHandles;
  /** The virtual disk's path, for workloads that use one. */
  disk?: string;
}

/** Longest single sleep, so a paced or throttled vCPU re-reads its clock and throttle at least this often. */
const MAX_SLEEP_MS = 100;
/**
 * A throttled, unpaced vCPU reads the clock once per this many ops (a clock read costs about as much as a
 * small op): a timeslice overruns by at most this many ops, well under a millisecond for every workload.
 */
const THROTTLE_CHECK_OPS = 256;

function run(data: VcpuWorkerData): void {
  const memory = GuestMemory.attach(data.memory);
  const regs = new Uint32Array(data.registers, registerFileOffset(data.index), REGISTER_WORDS);
  const control = controlView(data.control);
  const myState = stateWord(data.index);
  const dirty = new DirtyMarker(new Int32Array(data.memory.dirty), dirtyLogEnabled(data.workload));
  const accessed = new AccessMarker(memory.accessedBitmap, accessLogEnabled(data.workload));
  const present = new PresentBarrier(data.present, data.index);
  const op = PROGRAMS[data.workload.name]({
    regs,
    slots: memory.slots,
    slotWords: memory.slots.map((s) => new Uint32Array(s.buffer, s.byteOffset, s.byteLength >>> 2)),
    pagesPerSlot: memory.pagesPerSlot,
    dirty,
    accessed,
    present,
    params: data.workload.params,
    vcpus: data.vcpus,
    ...(data.disk === undefined ? {} : { disk: data.disk }),
  });
  const limit = readU64(regs, Reg.OPS_LIMIT_LO);
  const rate = opsPerSecond(data.workload, data.vcpus);
  const msPerOp = rate > 0 ? 1000 / rate : 0;

  // Every state change is a point where the guest may be harvested as still: marks go out first.
  const publish = (state: number): void => {
    dirty.flush();
    accessed.flush();
    Atomics.store(control, myState, state);
    Atomics.notify(control, myState);
  };

  const myAck = epochAckWord(data.index, data.vcpus);
  // -1: the first pass through the loop moves to the current dirty-log epoch (and acknowledges it).
  let dirtyEpoch = -1;
  let epoch = performance.now();
  let opsSinceEpoch = 0;
  const throttle = new ThrottleClock();
  let throttleCountdown = 0;
  // The percent of the last throttle.due(): what a sleep ended early still owed is reckoned at.
  let throttledAt = 0;
  const count = (counter: number): void => {
    Atomics.add(control, throttleCounterWord(counter, data.index, data.vcpus), 1);
  };
  // A PARK, STOP or release ends a throttle sleep before due() finds it over. Counted before the state is
  // published, so whoever sees PARKED or STOPPED sees the count.
  const endThrottleSleep = (): void => {
    if (!throttle.asleep) return;
    const owed = throttle.owed(performance.now(), throttledAt);
    // Ended before cut short, as begun before ended: see Guest.throttleSleeps for why this order.
    count(ThrottleCounter.ENDED);
    if (owed > 0) count(ThrottleCounter.CUT_SHORT);
    throttle.reset();
  };
  publish(VcpuState.RUNNING);
  for (;;) {
    const command = Atomics.load(control, COMMAND_WORD);
    if (command === Command.STOP) {
      endThrottleSleep();
      publish(VcpuState.STOPPED);
      return;
    }
    if (command === Command.PARK) {
      endThrottleSleep();
      publish(VcpuState.PARKED);
      while (Atomics.load(control, COMMAND_WORD) === Command.PARK) Atomics.wait(control, COMMAND_WORD, Command.PARK);
      // Store RUNNING before the command is re-read at the top of the loop (see control.ts).
      Atomics.store(control, myState, VcpuState.RUNNING);
      // A switch to post-copy happens while the guest is parked.
      present.refresh();
      epoch = performance.now();
      opsSinceEpoch = 0;
      throttle.reset();
      throttleCountdown = 0;
      continue;
    }
    const done = readU64(regs, Reg.OPS_DONE_LO);
    if (limit !== 0 && done >= limit) {
      publish(VcpuState.FINISHED);
      return;
    }
    // Checked on every pass, sleeping ones included: a harvest waits for this acknowledgement (DirtyMarker).
    const currentEpoch = Atomics.load(control, EPOCH_WORD);
    if (currentEpoch !== dirtyEpoch) {
      dirty.newEpoch();
      dirtyEpoch = currentEpoch;
      Atomics.store(control, myAck, currentEpoch);
      Atomics.notify(control, myAck);
    }
    let now = -1;
    const percent = Atomics.load(control, THROTTLE_WORD);
    if (percent > 0) {
      if (msPerOp > 0 || --throttleCountdown <= 0) {
        throttleCountdown = THROTTLE_CHECK_OPS;
        now = performance.now();
        const wasAsleep = throttle.asleep;
        const wait = throttle.due(now, percent);
        throttledAt = percent;
        if (throttle.asleep !== wasAsleep) count(wasAsleep ? ThrottleCounter.ENDED : ThrottleCounter.BEGUN);
        if (wait > 0) {
          dirty.flush();
          accessed.flush();
          // On the command word, so a PARK, STOP or new throttle (Guest.setThrottle notifies) wakes it at once.
          Atomics.wait(control, COMMAND_WORD, Command.RUN, Math.min(wait, MAX_SLEEP_MS));
          // A throttled vCPU is off its CPU: pacing owes no ops for the sleep, so a paced workload's rate
          // scales with its run fraction like a CPU-bound one's.
          epoch += performance.now() - now;
          throttleCountdown = 0;
          continue;
        }
      }
    } else if (throttle.engaged) {
      endThrottleSleep();
      throttle.reset();
    }
    if (msPerOp > 0) {
      if (now < 0) now = performance.now();
      const due = epoch + opsSinceEpoch * msPerOp;
      if (due - now >= 1) {
        dirty.flush();
        accessed.flush();
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
    if (present.active) {
      if (!present.runGuarded(op)) {
        // A page is missing: the op changed nothing (neither memory nor registers). Wait at the op boundary.
        dirty.flush();
        present.waitForMissing(control, dirtyEpoch);
        continue;
      }
    } else {
      op();
    }
    writeU64(regs, Reg.OPS_DONE_LO, done + 1);
    opsSinceEpoch++;
  }
}

if (workerData) {
  run(workerData as VcpuWorkerData);
} else {
  // Spawned ahead of need (an agent's pool): the code is loaded; run once a guest assigns this vCPU.
  parentPort!.once('message', (data: VcpuWorkerData) => run(data));
  parentPort!.postMessage('online');
}
