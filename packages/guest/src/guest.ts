import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { MAX_VCPUS } from './constants.js';
import {
  atSafePoint,
  Command,
  COMMAND_WORD,
  createControl,
  EPOCH_WORD,
  epochAckWord,
  stateWord,
  THROTTLE_WORD,
  ThrottleCounter,
  throttleCounterWord,
  VcpuState,
} from './control.js';
import { digestGuest } from './digest.js';
import { checkKernelFits } from './kernel/kernel-fits.js';
import { digestKernelGuest } from './kernel/kernel-digest.js';
import { GuestError, GuestErrorCode } from './errors.js';
import type { GuestMemory } from './memory.js';
import type { PresentMap } from './present-map.js';
import {
  checkCpuStateFits,
  type CpuState,
  freshRegisters,
  loadOpsDone,
  REGISTER_FILE_BYTES,
  REGISTER_WORDS,
  registerBufferBytes,
  registerFileOffset,
} from './registers.js';
import { MAX_THROTTLE_PERCENT } from './throttle.js';
import type { VcpuWorkerData } from './vcpu-worker.js';
import { parseWorkloadSpec, type WorkloadSpec } from './workload-spec.js';

export interface GuestStartOptions {
  memory: GuestMemory;
  vcpus: number;
  workload: WorkloadSpec;
  /** Resume from these register files (e.g. received from a migration source); else boot fresh from the seed. */
  cpuState?: CpuState;
  /** Start with every vCPU parked. */
  paused?: boolean;
  /**
   * Idle vCPU workers spawned ahead from VCPU_WORKER_URL, each past its greeting (an agent's pool); the guest
   * spawns its own for any vCPU beyond them.
   */
  workers?: Worker[];
  /** The post-copy present map: while pages are missing, a vCPU checks it before it touches a page. */
  present?: PresentMap;
  /** Path of the virtual disk (a raw file) for workloads that use one (fileserver); see kernel/disk.ts. */
  disk?: string;
}

/** One vCPU's throttle sleeps (Guest.throttleSleeps). */
export interface ThrottleSleeps {
  begun: number;
  ended: number;
  /** Of the ended ones, those a park, stop or release cut short. */
  cutShort: number;
}

/**
 * The vCPU worker script. Spawned with its VcpuWorkerData it runs at once; spawned without workerData (ahead of
 * need, by an agent's pool) it loads its code, posts one message (`'online'`, its greeting) and waits for the
 * VcpuWorkerData that Guest.start posts it. Pooling stays with the agents: the guest knows no thread pools.
 */
export const VCPU_WORKER_URL = new URL('./vcpu-worker.js', import.meta.url);

/** How often a wait on the control block re-checks for a crashed worker. */
const WAIT_SLICE_MS = 50;
/** How long a harvest waits for a running vCPU to move to the new dirty-log epoch. */
const EPOCH_ACK_TIMEOUT_MS = 10_000;
/** How long stop() lets workers reach an op boundary before terminating them. */
const STOP_GRACE_MS = 2000;

/**
 * A running guest: vCPU worker threads over shared guest memory, each with a register file.
 * Emits 'error' (GuestError LM_ERR_VCPU_CRASHED) when a worker dies, if anyone listens; `finished` rejects
 * with the same error either way.
 */
export class Guest extends EventEmitter {
  readonly memory: GuestMemory;
  readonly vcpuCount: number;
  readonly workload: WorkloadSpec;
  /** The virtual disk's path, if the guest has one. */
  readonly disk: string | undefined;
  readonly finished: Promise<void>;
  readonly #registers: SharedArrayBuffer;
  readonly #regs: Uint32Array[];
  readonly #control: Int32Array;
  readonly #workers: Worker[] = [];
  readonly #exits: Promise<void>[] = [];
  #resolveFinished: () => void = () => {};
  #rejectFinished: (error: GuestError) => void = () => {};
  #crash: GuestError | undefined;
  #stopping: Promise<void> | undefined;
  #idleWorkers: Worker[] = [];
  #present: PresentMap | undefined;

  private constructor(memory: GuestMemory, vcpus: number, workload: WorkloadSpec, registers: SharedArrayBuffer, disk: string | undefined) {
    super();
    this.disk = disk;
    this.memory = memory;
    this.vcpuCount = vcpus;
    this.workload = workload;
    this.#registers = registers;
    this.#regs = Array.from({ length: vcpus }, (_, i) => new Uint32Array(registers, registerFileOffset(i), REGISTER_WORDS));
    this.#control = createControl(vcpus);
    this.finished = new Promise<void>((resolve, reject) => {
      this.#resolveFinished = resolve;
      this.#rejectFinished = reject;
    });
    // Nobody has to await `finished`; a crash is also reported through 'error' and park().
    this.finished.catch(() => {});
  }

  /**
   * Boots (or, with `cpuState`, resumes) the guest; resolves once every worker is online, running or parked.
   * @throws GuestError LM_ERR_BAD_WORKLOAD, LM_ERR_BAD_GEOMETRY, LM_ERR_BAD_CPU_STATE, LM_ERR_VCPU_CRASHED
   */
  static async start(options: GuestStartOptions): Promise<Guest> {
    const { memory, vcpus } = options;
    const workload = parseWorkloadSpec(options.workload);
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
      throw new GuestError(GuestErrorCode.BAD_GEOMETRY, `vCPU count ${vcpus} not in 1..${MAX_VCPUS}`);
    }
    if (memory.pageCount < vcpus) {
      throw new GuestError(GuestErrorCode.BAD_GEOMETRY, `${memory.pageCount} pages cannot be split over ${vcpus} vCPUs`);
    }
    if (workload.name === 'fileserver') checkKernelFits(workload, vcpus, memory.pageCount, options.disk);
    const registers = new SharedArrayBuffer(registerBufferBytes(vcpus));
    const files = new Uint8Array(registers);
    if (options.cpuState) {
      checkCpuStateFits(options.cpuState, vcpus, memory.pageCount, workload);
      options.cpuState.forEach((file, i) => files.set(file, registerFileOffset(i)));
    } else {
      for (let i = 0; i < vcpus; i++) {
        files.set(new Uint8Array(freshRegisters(workload, i, vcpus, memory.pageCount).buffer), registerFileOffset(i));
      }
    }
    const guest = new Guest(memory, vcpus, workload, registers, options.disk);
    memory.setHarvestBarrier(() => guest.#newDirtyEpoch());
    if (options.paused) Atomics.store(guest.#control, COMMAND_WORD, Command.PARK);
    guest.#idleWorkers = [...(options.workers ?? [])];
    guest.#present = options.present;
    for (let i = 0; i < vcpus; i++) guest.#spawn(i);
    try {
      await guest.#waitUntil((state) => (options.paused ? atSafePoint(state) : state !== VcpuState.STARTING));
    } catch (error) {
      await guest.stop();
      throw error;
    }
    return guest;
  }

  #spawn(index: number): void {
    const data: VcpuWorkerData = {
      memory: this.memory.handles(),
      registers: this.#registers,
      control: this.#control.buffer as SharedArrayBuffer,
      index,
      vcpus: this.vcpuCount,
      workload: this.workload,
      present: this.#present?.handles(),
      ...(this.disk === undefined ? {} : { disk: this.disk }),
    };
    const idle = this.#idleWorkers.shift();
    let worker: Worker;
    if (idle) {
      worker = idle;
      worker.ref();
      worker.postMessage(data);
    } else {
      worker = new Worker(VCPU_WORKER_URL, { workerData: data });
    }
    this.#workers.push(worker);
    worker.on('error', (cause) => this.#crashed(index, `threw: ${String(cause)}`, cause));
    this.#exits.push(
      new Promise<void>((resolve) => {
        worker.once('exit', (code) => {
          const state = Atomics.load(this.#control, stateWord(index));
          if (state === VcpuState.FINISHED) {
            if (this.isFinished()) this.#resolveFinished();
          } else if (state !== VcpuState.STOPPED && this.#stopping === undefined) {
            this.#crashed(index, `exited with code ${code}`);
          }
          resolve();
        });
      }),
    );
  }

  #crashed(index: number, what: string, cause?: unknown): void {
    if (this.#crash) return;
    this.#crash = new GuestError(GuestErrorCode.VCPU_CRASHED, `vCPU ${index} ${what}`, { cause });
    this.#rejectFinished(this.#crash);
    if (this.listenerCount('error') > 0) this.emit('error', this.#crash);
  }

  /**
   * The harvest barrier, run after the dirty log is taken and before its pages are read (see DirtyMarker):
   * advances the dirty-log epoch and waits until every vCPU that may write has moved to it, so every write a
   * vCPU left unmarked (its page was marked earlier in the old epoch) is visible to the reads that follow. A
   * vCPU starting, parked, finished or stopped does no op before it re-reads the epoch.
   * Blocks this thread for as long as the slowest running vCPU takes to reach its next loop pass:
   * microseconds, or a scheduler slice on a busy host. Sleeping vCPUs are woken for it, unless the command is
   * PARK.
   * @throws GuestError LM_ERR_VCPU_CRASHED when a running vCPU does not answer within EPOCH_ACK_TIMEOUT_MS
   *   (a worker that died cannot be told from a slow one while this thread is blocked; failing the harvest
   *   fails the migration, and the source keeps its guest)
   */
  #newDirtyEpoch(): void {
    const control = this.#control;
    const deadline = performance.now() + EPOCH_ACK_TIMEOUT_MS;
    const epoch = (Atomics.add(control, EPOCH_WORD, 1) + 1) | 0;
    // Under PARK the only vCPUs asleep on the command word are parked ones, which owe no acknowledgement:
    // waking them would only take a core from this thread.
    if (Atomics.load(control, COMMAND_WORD) !== Command.PARK) Atomics.notify(control, COMMAND_WORD);
    for (let i = 0; i < this.vcpuCount; i++) {
      const ackWord = epochAckWord(i, this.vcpuCount);
      for (;;) {
        // A crashed vCPU writes nothing more.
        if (this.#crash) return;
        const state = this.#state(i);
        if (state === VcpuState.STARTING || atSafePoint(state)) break;
        const ack = Atomics.load(control, ackWord);
        if (ack === epoch) break;
        if (performance.now() > deadline) {
          throw new GuestError(GuestErrorCode.VCPU_CRASHED, `vCPU ${i} did not reach the dirty-log epoch in ${EPOCH_ACK_TIMEOUT_MS} ms`);
        }
        Atomics.wait(control, ackWord, ack, WAIT_SLICE_MS);
      }
    }
  }

  #state(index: number): number {
    return Atomics.load(this.#control, stateWord(index));
  }

  /** Waits until every vCPU's state satisfies `ok`, without blocking the event loop. */
  async #waitUntil(ok: (state: number) => boolean): Promise<void> {
    for (let i = 0; i < this.vcpuCount; i++) {
      for (;;) {
        if (this.#crash) throw this.#crash;
        const state = this.#state(i);
        if (ok(state)) break;
        const waited = Atomics.waitAsync(this.#control, stateWord(i), state, WAIT_SLICE_MS);
        if (waited.async) await waited.value;
      }
    }
  }

  /** Every vCPU at a safe point and none about to run: the register files are complete and still. */
  #quiescent(): boolean {
    let allFinished = true;
    for (let i = 0; i < this.vcpuCount; i++) {
      const state = this.#state(i);
      if (!atSafePoint(state)) return false;
      if (state !== VcpuState.FINISHED) allFinished = false;
    }
    return allFinished || Atomics.load(this.#control, COMMAND_WORD) !== Command.RUN;
  }

  /**
   * Brings every vCPU to a safe point (parked or finished). Idempotent.
   * @throws GuestError LM_ERR_VCPU_CRASHED
   */
  async park(): Promise<void> {
    if (this.#crash) throw this.#crash;
    // Already PARK (a paused guest): every vCPU was woken when it was stored, and none sleeps on RUN since.
    if (this.#stopping === undefined && Atomics.load(this.#control, COMMAND_WORD) !== Command.PARK) {
      Atomics.store(this.#control, COMMAND_WORD, Command.PARK);
      // Wakes vCPUs sleeping on the command word (paced) or on a missing page.
      Atomics.notify(this.#control, COMMAND_WORD);
      this.#present?.wakeWaiters();
    }
    await this.#waitUntil(atSafePoint);
  }

  /** Lets parked vCPUs run again. No effect once stopping. */
  resume(): void {
    if (this.#stopping !== undefined) return;
    Atomics.store(this.#control, COMMAND_WORD, Command.RUN);
    Atomics.notify(this.#control, COMMAND_WORD);
  }

  get parked(): boolean {
    return this.#quiescent();
  }

  /**
   * Throttles every vCPU (QEMU's cpu-throttle, for auto-converge): at `percent` each vCPU runs 10 ms, then
   * sleeps 10 * percent / (100 - percent) ms (see throttle.ts); 0 releases it. Takes effect within one
   * timeslice, at once for a vCPU sleeping on the throttle. Changes timing only: what a run of N ops writes
   * is the same at any throttle. park() and stop() stay prompt at any throttle.
   * @throws GuestError LM_ERR_BAD_ARGUMENT unless `percent` is an integer in 0..99
   */
  setThrottle(percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > MAX_THROTTLE_PERCENT) {
      throw new GuestError(GuestErrorCode.BAD_ARGUMENT, `throttle ${percent} is not an integer percent in 0..${MAX_THROTTLE_PERCENT}`);
    }
    Atomics.store(this.#control, THROTTLE_WORD, percent);
    // Throttle sleeps wait on the command word: wake them so they recompute their sleep at the new percent.
    Atomics.notify(this.#control, COMMAND_WORD);
  }

  /** The throttle set by setThrottle, 0 = unthrottled. */
  get throttlePercent(): number {
    return Atomics.load(this.#control, THROTTLE_WORD);
  }

  /**
   * What each vCPU's throttle has done so far, counted by the vCPU itself: what happened rather than how
   * fast (a vCPU is asleep while `ended < begun`). A sleep is cut short when a park, stop or release ends it
   * while the vCPU still owed sleep on its own clock. Still readable after stop().
   */
  throttleSleeps(): ThrottleSleeps[] {
    const read = (counter: number, vcpu: number): number =>
      Atomics.load(this.#control, throttleCounterWord(counter, vcpu, this.vcpuCount));
    // The worker counts a sleep's start, then its end, then its cut; read in the opposite order, a snapshot
    // never shows more ended than begun, nor more cut short than ended.
    return Array.from({ length: this.vcpuCount }, (_, i) => {
      const cutShort = read(ThrottleCounter.CUT_SHORT, i);
      const ended = read(ThrottleCounter.ENDED, i);
      return { begun: read(ThrottleCounter.BEGUN, i), ended, cutShort };
    });
  }

  /**
   * Copies of the register files.
   * @throws GuestError LM_ERR_NOT_PARKED unless every vCPU is parked, finished or stopped
   */
  cpuState(): CpuState {
    if (!this.#quiescent()) {
      throw new GuestError(GuestErrorCode.NOT_PARKED, 'CPU state is only consistent while the guest is parked or finished');
    }
    return this.#regs.map((regs) => new Uint8Array(regs.buffer, regs.byteOffset, REGISTER_FILE_BYTES).slice());
  }

  /**
   * Replaces the register files of a parked guest, so vCPU workers spawned ahead of time (paused, from fresh
   * registers) continue a run that arrived by migration: the destination starts its workers while pages are
   * still arriving and activation is only this copy and a resume.
   * Safe because a worker keeps nothing from its registers across a park except the ops limit and the
   * partition, and checkCpuStateFits requires both to equal the fresh registers'.
   * @throws GuestError LM_ERR_NOT_PARKED unless every vCPU is parked; LM_ERR_BAD_CPU_STATE
   */
  loadCpuState(state: CpuState): void {
    for (let i = 0; i < this.vcpuCount; i++) {
      if (this.#state(i) !== VcpuState.PARKED) {
        throw new GuestError(GuestErrorCode.NOT_PARKED, `vCPU ${i} is not parked; its registers cannot be replaced`);
      }
    }
    checkCpuStateFits(state, this.vcpuCount, this.memory.pageCount, this.workload);
    const files = new Uint8Array(this.#registers);
    state.forEach((file, i) => files.set(file, registerFileOffset(i)));
  }

  /** Operations done, summed over vCPUs (a sample while running). */
  opsDone(): number {
    return this.#regs.reduce((sum, regs) => sum + loadOpsDone(regs), 0);
  }

  isFinished(): boolean {
    for (let i = 0; i < this.vcpuCount; i++) if (this.#state(i) !== VcpuState.FINISHED) return false;
    return true;
  }

  /**
   * Canonical digest of memory and CPU state (see digestGuest); for a guest-kernel guest, of what it can
   * observe (see digestKernelGuest).
   * @throws GuestError LM_ERR_NOT_PARKED unless parked or finished; LM_ERR_DISK (guest-kernel guests)
   */
  digest(): string {
    if (this.workload.name === 'fileserver') return digestKernelGuest(this.memory, this.cpuState(), this.workload, this.disk!);
    return digestGuest(this.memory, this.cpuState());
  }

  /** Stops every worker at an op boundary (terminating any that do not get there in time). Memory stays readable. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      Atomics.store(this.#control, COMMAND_WORD, Command.STOP);
      Atomics.notify(this.#control, COMMAND_WORD);
      this.#present?.wakeWaiters();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
      });
      const result = await Promise.race([Promise.all(this.#exits), grace]);
      clearTimeout(timer);
      if (result === 'late') await Promise.all(this.#workers.map((w) => w.terminate()));
    })();
    return this.#stopping;
  }
}
