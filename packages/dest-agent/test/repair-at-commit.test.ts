import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  FrameType,
  PAGE_SIZE,
  PageBatchWriter,
  PageChecksums,
  encodeChannelHello,
  encodeComplete,
  encodeCpuState,
  encodeRepairEnd,
  encodeRepairTable,
  encodeRoundBegin,
  encodeRoundEnd,
  newCommitNonce,
  type Frame,
} from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { IncomingReport } from '@livemig/dest-agent';
import { PAGES, agentUnderTest, connectTo, hello } from './helpers.js';

// The repair step at commit (direct-pages-v2), spoken to a real destination by a scripted source: round 1
// carries pages whose bytes differ from what the source's table says for some of them (as a page damaged in a
// raw region would), so the digests differ at Complete. The destination must ask for the table, then for
// exactly the differing pages, and commit once they check; a source whose pages never check is refused with
// LM_ERR_REPAIR_FAILED after the last pass, and nothing is activated.
describe('repair at commit', () => {
  const dest = agentUnderTest();
  const { agent } = dest;

  const page = (index: number, salt: number): Buffer => Buffer.alloc(PAGE_SIZE, `page ${index} salt ${salt} `);

  /** Reserves, sends round 1 (pages 0..7, the `damaged` ones wrong), CpuState, and Complete over the true table. */
  async function completeWithDamage(damaged: number[]): Promise<{ source: FramedSocket; channel: FramedSocket; truth: PageChecksums; nonce: string }> {
    const source = await connectTo(dest.address);
    await source.send(hello());
    const accept = await source.receive(30_000, 'Accept');
    if (accept.type !== FrameType.Accept) throw new Error('expected Accept');
    const channel = await connectTo({ host: dest.address.host, port: accept.message.channelPorts[0]! });
    await channel.send(encodeChannelHello({ reservationId: accept.message.reservationId, channel: 0 }));
    // The source's table: the pages as they are (salt 0). What arrives: the damaged ones with salt 1.
    const truth = PageChecksums.create(PAGES);
    const tableWriter = new PageBatchWriter();
    for (let k = 0; k < 8; k++) {
      tableWriter.add(k, page(k, 0));
      truth.record(k, tableWriter.pageCrc);
    }
    const sent = new PageBatchWriter();
    sent.compression = 'none';
    for (let k = 0; k < 8; k++) sent.add(k, page(k, damaged.includes(k) ? 1 : 0));
    await channel.send(encodeRoundBegin({ round: 1, pages: 8 }));
    await channel.send(sent.takeFrame());
    await channel.send(encodeRoundEnd({ round: 1, pages: 8 }));
    await source.send(encodeCpuState({ registers: dest.registers, running: false }));
    const nonce = newCommitNonce();
    await source.send(encodeComplete({ digest: truth.digest(dest.registers), pagesSent: 8, rounds: 1, nonce }));
    return { source, channel, truth, nonce };
  }

  async function answerTable(source: FramedSocket, truth: PageChecksums, pass: number): Promise<void> {
    const ask = await source.receive(30_000, 'RepairRequest');
    expect(ask.type === FrameType.RepairRequest && ask.message).toEqual({ pass });
    await source.send(encodeRepairTable({ pass, first: 0, crcs: truth.slice(0, PAGES) }));
  }

  async function askedPages(source: FramedSocket, pass: number): Promise<number[]> {
    const ask: Frame = await source.receive(30_000, 'RepairRequest with pages');
    if (ask.type !== FrameType.RepairRequest || ask.message.pages === undefined) throw new Error('expected RepairRequest with pages');
    expect(ask.message.pass).toBe(pass);
    return [...ask.message.pages];
  }

  async function sendPages(source: FramedSocket, pages: number[], salt: number, pass: number): Promise<void> {
    const writer = new PageBatchWriter();
    writer.compression = 'none';
    for (const k of pages) writer.add(k, page(k, salt));
    await source.send(writer.takeFrame());
    await source.send(encodeRepairEnd({ pass, pages: pages.length }));
  }

  it('asks for exactly the pages whose CRCs differ, applies them and commits', async () => {
    const { source, channel, truth, nonce } = await completeWithDamage([2, 5]);
    await answerTable(source, truth, 1);
    const asked = await askedPages(source, 1);
    expect(asked).toEqual([2, 5]);
    await sendPages(source, asked, 0, 1);
    const committed = await source.receive(30_000, 'Committed');
    expect(committed.type === FrameType.Committed && committed.message).toEqual({ digest: truth.digest(dest.registers), proof: truth.proof(nonce, dest.registers) });
    source.destroy();
    channel.destroy();
  });

  it('gives up after the last pass with LM_ERR_REPAIR_FAILED, activating nothing', async () => {
    const { source, channel, truth } = await completeWithDamage([4]);
    const failed = once(agent, 'failed') as Promise<[IncomingReport]>;
    for (let pass = 1; pass <= 3; pass++) {
      await answerTable(source, truth, pass);
      expect(await askedPages(source, pass)).toEqual([4]);
      await sendPages(source, [4], 1, pass); // damaged again every time
    }
    await expect(source.receive(30_000, 'Abort')).rejects.toMatchObject({ code: 'LM_ERR_REPAIR_FAILED' });
    const [report] = await failed;
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('LM_ERR_REPAIR_FAILED');
    expect(report.activationMs).toBeNull();
    source.destroy();
    channel.destroy();
  });
});
