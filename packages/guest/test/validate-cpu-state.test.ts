import { describe, expect, it } from 'vitest';
import {
  Guest,
  GuestError,
  GuestMemory,
  PAGE_SIZE,
  parseWorkloadSpec,
  REGISTER_FILE_BYTES,
  validateCpuState,
  WORKLOAD_NAMES,
  type CpuState,
} from '@livemig/guest';
import { spec } from './helpers.js';

const PAGES = 64;

async function parkedState(): Promise<CpuState> {
  const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 2, workload: spec('incr', 1, 10), paused: true });
  const state = guest.cpuState();
  await guest.stop();
  return state;
}

function withWord(state: CpuState, vcpu: number, word: number, value: number): CpuState {
  const copy = state.map((f) => f.slice());
  new DataView(copy[vcpu]!.buffer).setUint32(word * 4, value, true);
  return copy;
}

const badState = expect.objectContaining({ code: 'LM_ERR_BAD_CPU_STATE' });

describe('validateCpuState', () => {
  it('accepts the state a guest produced', async () => {
    const state = await parkedState();
    expect(state).toHaveLength(2);
    expect(state[0]?.byteLength).toBe(REGISTER_FILE_BYTES);
    expect(() => validateCpuState(state, 2, PAGES)).not.toThrow();
  });

  it('rejects a wrong register-file count or size', async () => {
    const state = await parkedState();
    expect(() => validateCpuState(state.slice(0, 1), 2, PAGES)).toThrow(badState);
    expect(() => validateCpuState([...state, state[1]!], 2, PAGES)).toThrow(badState);
    expect(() => validateCpuState([state[0]!, state[1]!.subarray(1)], 2, PAGES)).toThrow(badState);
    expect(() => validateCpuState('nope' as unknown as CpuState, 2, PAGES)).toThrow(badState);
  });

  it('rejects a partition out of range or not the one the geometry gives', async () => {
    const state = await parkedState();
    expect(() => validateCpuState(state, 2, PAGES / 2)).toThrow(badState); // partition beyond a smaller guest
    expect(() => validateCpuState(withWord(state, 1, 4, PAGES), 2, PAGES)).toThrow(badState); // start past the end
    expect(() => validateCpuState(withWord(state, 0, 5, PAGES), 2, PAGES)).toThrow(badState); // overlaps vCPU 1
    expect(() => validateCpuState(withWord(state, 1, 14, PAGES), 2, PAGES)).toThrow(badState); // cursor outside
    expect(() => validateCpuState(withWord(state, 0, 2, 1), 2, PAGES)).toThrow(badState); // vCPU index
    expect(() => validateCpuState(withWord(state, 0, 0, 0), 2, PAGES)).toThrow(badState); // magic
    expect(() => validateCpuState(withWord(state, 0, 1, 99), 2, PAGES)).toThrow(badState); // workload code
    expect(() => validateCpuState(withWord(state, 0, 6, 11), 2, PAGES)).toThrow(badState); // ops done > limit
  });

  it('Guest.start refuses CPU state of another workload or ops limit', async () => {
    const state = await parkedState();
    const memory = GuestMemory.create(PAGES * PAGE_SIZE);
    await expect(Guest.start({ memory, vcpus: 2, workload: spec('stream', 1, 10), cpuState: state })).rejects.toThrow(badState);
    await expect(Guest.start({ memory, vcpus: 2, workload: spec('incr', 1, 11), cpuState: state })).rejects.toThrow(badState);
  });
});

describe('parseWorkloadSpec', () => {
  it('fills defaults for every workload', () => {
    expect(WORKLOAD_NAMES).toEqual(['idle', 'uniform', 'hotcold', 'stream', 'incr', 'fileserver']);
    expect(parseWorkloadSpec({ name: 'uniform', seed: 1, ops: 0, params: {} }).params).toEqual({ dirtyRate: 32 * 1024 * 1024, dirtyLog: 1, accessLog: 1 });
    expect(parseWorkloadSpec({ name: 'hotcold', seed: 1, ops: 0, params: { hotFraction: 0.5 } }).params).toEqual({
      dirtyRate: 64 * 1024 * 1024,
      hotFraction: 0.5,
      hotBytes: 4 * 1024 * 1024,
      dirtyLog: 1,
      accessLog: 1,
    });
    expect(parseWorkloadSpec({ name: 'idle', seed: 1, ops: 0, params: {} }).params).toEqual({ opsRate: 1000 });
  });

  it.each<Parameters<typeof parseWorkloadSpec>[0]>([
    { name: 'quake', seed: 1, ops: 1, params: {} },
    { name: 'uniform', seed: -1, ops: 1, params: {} },
    { name: 'uniform', seed: 1.5, ops: 1, params: {} },
    { name: 'uniform', seed: 1, ops: -1, params: {} },
    { name: 'uniform', seed: 1, ops: 1, params: { dirtyRate: -1 } },
    { name: 'uniform', seed: 1, ops: 1, params: { dirtRate: 1 } },
    { name: 'hotcold', seed: 1, ops: 1, params: { hotFraction: 1.5 } },
    { name: 'hotcold', seed: 1, ops: 1, params: { hotBytes: 100 } },
    { name: 'idle', seed: 1, ops: 1, params: { opsRate: 0 } },
    { name: 'stream', seed: 1, ops: 1, params: { dirtyRate: Number.NaN } },
    { name: 'incr', seed: 1, ops: 1, params: { dirtyLog: 2 } },
    { name: 'uniform', seed: 1, ops: 1, params: { dirtyLog: 0.5 } },
    { name: 'idle', seed: 1, ops: 1, params: { dirtyLog: 0 } },
  ])('rejects $name $params seed=$seed ops=$ops', (value) => {
    let error: unknown;
    try {
      parseWorkloadSpec(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GuestError);
    expect((error as GuestError).code).toBe('LM_ERR_BAD_WORKLOAD');
  });
});
