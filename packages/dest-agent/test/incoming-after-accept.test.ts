import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  CAPABILITIES,
  CAPABILITY_DIRECT_PAGES,
  FrameType,
  PAGE_SIZE,
  PageBatchWriter,
  PageChecksums,
  encodeAbort,
  encodeChannelHello,
  encodeComplete,
  encodeConfirm,
  newCommitNonce,
  encodeCpuState,
  encodeRoundBegin,
  encodeRoundEnd,
  type AcceptMessage,
} from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ArrivedGuest, IncomingReport } from '@livemig/dest-agent';
import { PAGES, agentUnderTest, connectTo, hello } from './helpers.js';

const LIMIT_BYTES = 64 * 1024 * 1024;
const GUEST_BYTES = PAGES * PAGE_SIZE;

// The destination's phases after Accept, spoken to over loopback as a source would: the control connection
// carries the CPU state and then Complete, page data only the data channels. Anything out of that order, or
// that does not check, is answered with Abort and gives the reservation back; a verified image is committed
// and activated, with the frames in the order the protocol gives.
describe('incoming migration after Accept', () => {
  const dest = agentUnderTest({ maxMemoryBytes: LIMIT_BYTES });
  const { agent } = dest;

  /** A control connection past Accept: the guest is reserved here. */
  async function accepted(migrationId?: string, capabilities?: string[]): Promise<{ source: FramedSocket; accept: AcceptMessage }> {
    const source = await connectTo(dest.address);
    await source.send(hello({ ...(migrationId === undefined ? {} : { migrationId }), ...(capabilities === undefined ? {} : { capabilities }) }));
    const answer = await source.receive(30_000, 'Accept');
    if (answer.type !== FrameType.Accept) throw new Error(`expected Accept, got frame type ${answer.type}`);
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES - GUEST_BYTES);
    return { source, accept: answer.message };
  }

  /** One data channel that carried round 1 with no page in it: all an idle guest that never wrote needs. */
  async function emptyRoundOne(accept: AcceptMessage): Promise<FramedSocket> {
    const channel = await connectTo({ host: dest.address.host, port: accept.channelPorts[0]! });
    await channel.send(encodeChannelHello({ reservationId: accept.reservationId, channel: 0 }));
    await channel.send(encodeRoundBegin({ round: 1, pages: 0 }));
    await channel.send(encodeRoundEnd({ round: 1, pages: 0 }));
    return channel;
  }

  /** Sends `frames` on the control connection; expects Abort with `code` and `message`, and nothing kept. */
  async function expectAborted(source: FramedSocket, frames: Buffer[], code: string, message: string): Promise<IncomingReport> {
    const failed = once(agent, 'failed') as Promise<[IncomingReport]>;
    for (const frame of frames) await source.send(frame);
    await expect(source.receive(30_000, 'Abort')).rejects.toMatchObject({ code, message: `peer aborted: ${message}` });
    const [report] = await failed;
    expect(report.status).toBe('failed');
    expect(report.error).toEqual({ code, message });
    expect(report.guestId).toBe('incoming-test');
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
    source.destroy();
    return report;
  }

  it('aborts Complete before the CPU state with LM_ERR_UNEXPECTED_FRAME and releases the reservation', async () => {
    const { source } = await accepted();
    await expectAborted(
      source,
      [encodeComplete({ digest: 'ab', pagesSent: 0, rounds: 1, nonce: newCommitNonce() })],
      'LM_ERR_UNEXPECTED_FRAME',
      'Complete before the CPU state',
    );
  });

  it('aborts a PageBatch on the control connection with LM_ERR_UNEXPECTED_FRAME and releases the reservation', async () => {
    const { source } = await accepted();
    const batch = new PageBatchWriter();
    batch.addZero(0);
    await expectAborted(source, [batch.takeFrame()], 'LM_ERR_UNEXPECTED_FRAME', 'unexpected PageBatch on the control connection');
  });

  it('aborts a CPU state that does not fit the guest with LM_ERR_BAD_MESSAGE and releases the reservation', async () => {
    const { source } = await accepted();
    await expectAborted(
      source,
      [encodeCpuState({ registers: [dest.registers[0]!, dest.registers[0]!], running: false })],
      'LM_ERR_BAD_MESSAGE',
      'CPU state rejected: CPU state has 2 register files, guest has 1 vCPUs',
    );
  });

  it('aborts an image whose digest differs from the source\'s with LM_ERR_DIGEST_MISMATCH (no direct-pages-v2: no repair)', async () => {
    const { source, accept } = await accepted(undefined, CAPABILITIES.filter((c) => c !== CAPABILITY_DIRECT_PAGES));
    const channel = await emptyRoundOne(accept);
    const digest = PageChecksums.create(PAGES).digest(dest.registers);
    const wrong = `${digest.slice(0, -1)}${digest.endsWith('0') ? '1' : '0'}`;
    const report = await expectAborted(
      source,
      [encodeCpuState({ registers: dest.registers, running: false }), encodeComplete({ digest: wrong, pagesSent: 0, rounds: 1, nonce: newCommitNonce() })],
      'LM_ERR_DIGEST_MISMATCH',
      `rebuilt image digest ${digest} differs from the source's ${wrong}`,
    );
    expect(report.rounds).toBe(1);
    expect(report.receivedDigest).toBeNull();
    channel.destroy();
  });

  it("fails on the source's Abort with the source's code and releases the reservation", async () => {
    const { source } = await accepted();
    const failed = once(agent, 'failed') as Promise<[IncomingReport]>;
    await source.send(encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'cancelled by the operator' }));
    const [report] = await failed;
    expect(report.error).toEqual({ code: 'LM_ERR_CANCELLED', message: 'peer aborted: cancelled by the operator' });
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
    source.destroy();
  });

  it('commits a verified image, then activates it on Confirm: Committed, Confirm, Activated, then the connection ends', async () => {
    const migrationId = 'incoming-after-accept-commit';
    const { source, accept } = await accepted(migrationId);
    const channel = await emptyRoundOne(accept);
    const digest = PageChecksums.create(PAGES).digest(dest.registers);
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    await source.send(encodeCpuState({ registers: dest.registers, running: false }));
    const nonce = newCommitNonce();
    await source.send(encodeComplete({ digest, pagesSent: 0, rounds: 1, nonce }));
    const committed = await source.receive(30_000, 'Committed');
    // The proof is over Complete's nonce and the table the destination applied (here: no page, all zero).
    const proof = PageChecksums.create(PAGES).proof(nonce, dest.registers);
    expect(committed.type === FrameType.Committed && committed.message).toEqual({ digest, proof });
    // Journaled before Committed went out; parked until the source confirms.
    expect(agent.journal.get(migrationId)).toMatchObject({ outcome: 'committed', thisRun: true });
    expect(agent.parked.get(migrationId)).toBeDefined();
    await source.send(encodeConfirm({ migrationId }));
    const activated = await source.receive(30_000, 'Activated');
    expect(activated.type).toBe(FrameType.Activated);
    await expect(source.receive(30_000)).rejects.toMatchObject({ code: 'LM_ERR_PEER_CLOSED' });
    const [arrival] = await arrived;
    try {
      expect(arrival.guestId).toBe('incoming-test');
      expect(arrival.report).toMatchObject({ status: 'completed', rounds: 1, pagesReceived: 0, receivedDigest: digest });
      expect(arrival.report.error).toBeUndefined();
      expect(arrival.report.activationMs).toEqual(expect.any(Number));
      // The paused guest stays paused here, and keeps its reservation until it leaves.
      expect(arrival.guest.cpuState()).toEqual(dest.registers);
      expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES - GUEST_BYTES);
    } finally {
      await arrival.guest.stop();
      arrival.reservation.release();
      source.destroy();
      channel.destroy();
    }
    expect(agent.reservations.freeBytes).toBe(LIMIT_BYTES);
  });
});
