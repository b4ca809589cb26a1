import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDisk, Guest, GuestMemory, HintArea, parseWorkloadSpec, PartitionWords, Sb, type KernelLayout } from '@livemig/guest';
import { silentLogger } from '@livemig/agent-runtime';
import { BalloonFilter } from '../dist/outgoing/balloon.js';
import { SoftPageFilter } from '../dist/outgoing/soft-pages.js';
import { DirectSends } from '../dist/outgoing/direct-sends.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'soft-pages-'));
const workload = parseWorkloadSpec({ name: 'fileserver', seed: 1, ops: 10, params: { diskBytes: 2 * MiB, cacheBytes: MiB, anonBytes: MiB } });
let guest: Guest;
let area: HintArea;

beforeAll(async () => {
  formatDisk(join(dir, 'disk'), 2 * MiB);
  // Parked from boot: its kernel never runs, so the test writes the hint area as a guest would (or would not).
  guest = await Guest.start({ memory: GuestMemory.create(8 * MiB), vcpus: 2, workload, paused: true, disk: join(dir, 'disk') });
  area = new HintArea(guest.memory, workload, 2);
});
afterAll(async () => {
  await guest.stop();
  rmSync(dir, { recursive: true, force: true });
});

function words(vcpu: number): [PartitionWords, KernelLayout] {
  const layout = area.layouts[vcpu]!;
  const slots = guest.memory.slots.map((s) => new Uint32Array(s.buffer));
  return [new PartitionWords(slots, guest.memory.pagesPerSlot, layout.start), layout];
}

/** Publishes a hint for vCPU 0 calling `soft` (partition-relative pages) soft, as the kernel's publishHint does. */
function publish(soft: number[], at = Date.now()): void {
  const [w, layout] = words(0);
  w.set(0, Sb.MAGIC, 0x4c4d4b4e);
  w.set(0, Sb.HINT_FIRST_PAGE, layout.hintPage);
  w.set(0, Sb.HINT_WORDS, layout.bitmapWords);
  for (let i = 0; i < layout.bitmapWords; i++) w.set(layout.hintPage, i, 0);
  for (const page of soft) w.set(layout.hintPage, page >>> 5, w.get(layout.hintPage, page >>> 5) | (1 << (page & 31)));
  w.set(0, Sb.HINT_SOFT, soft.length);
  w.set(0, Sb.HINT_AT_LO, at % 2 ** 32);
  w.set(0, Sb.HINT_AT_HI, Math.floor(at / 2 ** 32));
  w.set(0, Sb.HINT_GEN, w.get(0, Sb.HINT_GEN) + 1);
}

/** Writes absolute page `page` and marks it dirty (write, then mark), leaving the hint as it is. */
function dirty(page: number): void {
  guest.memory.page(page)[0] = (guest.memory.page(page)[0]! + 1) & 0xff;
  guest.memory.markDirty(page);
}

describe('SoftPageFilter: rounds skip what the latest hint calls soft, unless dirtied after it', () => {
  it('a soft page is skipped; dirtied after its hint it is sent; judged by a newer hint it is skipped again', () => {
    const filter = new SoftPageFilter(guest, silentLogger());
    const [, layout] = words(0);
    const soft = layout.dataPage + 3;
    const hard = layout.dataPage + 4;
    guest.memory.harvestDirty();
    publish([3 + layout.dataPage]);
    dirty(layout.start + soft);
    dirty(layout.start + hard);
    expect(Array.from(filter.round(guest.memory.harvestDirty()))).toContain(layout.start + hard);
    expect(filter.report.pagesSkippedSoft).toBe(1);

    // Dirtied again with no hint since: dirtied after the latest hint, so sent although its bit is still set.
    dirty(layout.start + soft);
    expect(Array.from(filter.round(guest.memory.harvestDirty()))).toContain(layout.start + soft);
    expect(filter.report.pagesSkippedSoft).toBe(1);

    publish([soft]);
    dirty(layout.start + soft);
    expect(Array.from(filter.round(guest.memory.harvestDirty()))).not.toContain(layout.start + soft);
    expect(filter.report.pagesSkippedSoft).toBe(2);
    expect(filter.report.roundHintAgeMs).toHaveLength(3);
  });

  it('without an acknowledged interrupt, the final round sends every page skipped before', async () => {
    const filter = new SoftPageFilter(guest, silentLogger());
    const [, layout] = words(0);
    const soft = layout.dataPage + 7;
    guest.memory.harvestDirty();
    publish([soft]);
    dirty(layout.start + soft);
    expect(Array.from(filter.round(guest.memory.harvestDirty()))).not.toContain(layout.start + soft);
    // The parked guest cannot answer: the wait ends at once, nothing acknowledged.
    await filter.interrupt(10_000);
    filter.release();
    expect(filter.report.interruptMs).toBeNull();
    expect(Array.from(filter.final(guest.memory.harvestDirty()))).toContain(layout.start + soft);
    expect(filter.report.vcpusAcknowledged).toBe(0);
    expect(filter.report.pagesNeverSent).toBe(0);
  });
});

// A page pre-copy may have sent directly (Raw from live memory) reached the destination torn if it changed under
// the send; only its resend makes the tables agree at commit, so neither filter may skip it (DirectSends).
describe('filters and direct pages: a page a round may have sent directly is never skipped', () => {
  it('the soft-page filter sends it in later rounds and in the final round, though the hint calls it soft', async () => {
    const sends = new DirectSends(guest.memory.pageCount);
    const filter = new SoftPageFilter(guest, silentLogger(), sends);
    const [, layout] = words(0);
    const direct = layout.start + layout.dataPage + 9;
    const never = layout.start + layout.dataPage + 10;
    guest.memory.harvestDirty();
    dirty(direct);
    sends.record(filter.round(guest.memory.harvestDirty()));
    expect(sends.mustResend(direct)).toBe(true);
    publish([direct - layout.start, never - layout.start]);
    dirty(direct);
    dirty(never);
    const round = Array.from(filter.round(guest.memory.harvestDirty()));
    expect(round).toContain(direct);
    expect(round).not.toContain(never);
    expect(filter.report.pagesSkippedSoft).toBe(1);
    await filter.interrupt(0);
    filter.release();
    dirty(direct);
    expect(Array.from(filter.final(guest.memory.harvestDirty()))).toContain(direct);
  });

  it('the balloon filter sends it although it is in the balloon; a page never sent stays skipped', () => {
    const [w, layout] = words(0);
    const sends = new DirectSends(guest.memory.pageCount);
    const filter = new BalloonFilter(guest, silentLogger(), sends);
    const direct = layout.start + (layout.dataPage % 31);
    const never = direct + 1;
    w.set(layout.balloonPage, 0, (1 << layout.dataPage % 31) | (1 << (layout.dataPage % 31) + 1));
    w.set(0, Sb.BALLOON_PAGES, 2);
    sends.record(Uint32Array.of(direct));
    expect(Array.from(filter.filter(Uint32Array.of(direct, never)))).toEqual([direct]);
    expect(filter.report.pagesSkippedBallooned).toBe(1);
    w.set(layout.balloonPage, 0, 0);
    w.set(0, Sb.BALLOON_PAGES, 0);
  });
});

describe('HintArea: the guest is untrusted input', () => {
  const badHint = expect.objectContaining({ code: 'LM_ERR_BAD_HINT' });

  it('refuses a bitmap out of place, bits beyond the partition, a future hint, too many soft pages', () => {
    const [w, layout] = words(0);
    publish([layout.dataPage]);
    expect(area.header(0)).toMatchObject({ softPages: 1 });
    w.set(0, Sb.HINT_WORDS, layout.bitmapWords + 1);
    expect(() => area.header(0)).toThrow(badHint);
    publish([layout.dataPage]);
    w.set(0, Sb.HINT_FIRST_PAGE, layout.pages);
    expect(() => area.header(0)).toThrow(badHint);
    publish([layout.dataPage], Date.now() + 3_600_000);
    expect(() => area.header(0)).toThrow(badHint);
    publish([layout.dataPage]);
    w.set(0, Sb.HINT_SOFT, layout.pages + 1);
    expect(() => area.header(0)).toThrow(badHint);
    publish([layout.dataPage]);
    if (layout.pages % 32 !== 0) {
      w.set(layout.hintPage, layout.bitmapWords - 1, 0xffffffff);
      expect(() => area.header(0)).toThrow(badHint);
    }
  });

  it('refuses a balloon larger than the partition or with bits beyond it; a refused balloon skips nothing', () => {
    const [w, layout] = words(0);
    w.set(0, Sb.BALLOON_PAGES, layout.pages + 1);
    expect(() => area.ballooned(0)).toThrow(badHint);
    const filter = new BalloonFilter(guest, silentLogger());
    w.set(layout.balloonPage, 0, 1 << layout.dataPage % 32);
    const page = layout.start + (layout.dataPage % 32);
    expect(Array.from(filter.filter(Uint32Array.of(page)))).toEqual([page]);
    expect(filter.report.areasRejected).toBe(1);
    w.set(0, Sb.BALLOON_PAGES, 1);
    expect(Array.from(filter.filter(Uint32Array.of(page)))).toEqual([]);
    expect(filter.report.pagesSkippedBallooned).toBe(1);
    w.set(layout.balloonPage, 0, 0);
    w.set(0, Sb.BALLOON_PAGES, 0);
  });

  it('a refused hint is counted and its pages are sent; a hint never names another vCPU\'s page', () => {
    const filter = new SoftPageFilter(guest, silentLogger());
    const [w, layout] = words(0);
    guest.memory.harvestDirty();
    publish([layout.dataPage]);
    w.set(0, Sb.HINT_WORDS, 0);
    dirty(layout.start + layout.dataPage);
    expect(Array.from(filter.round(guest.memory.harvestDirty()))).toContain(layout.start + layout.dataPage);
    expect(filter.report.hintsRejected).toBe(1);
    expect(filter.report.lastHintError).toMatch(/bitmap at page/);
    // vCPU 0's bitmap speaks for vCPU 0's partition only.
    expect(area.isSoft(0, area.layouts[1]!.start + layout.dataPage)).toBe(false);
  });
});
