import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FrameType,
  PageChecksums,
  encodeChannelHello,
  encodeComplete,
  encodeConfirm,
  encodeCpuState,
  encodeOutcomeQuery,
  encodeRoundBegin,
  encodeRoundEnd,
  newCommitNonce,
} from '@livemig/protocol';
import type { FramedSocket } from '@livemig/agent-runtime';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { PAGES, connectTo, hello, pausedGuestRegisters } from './helpers.js';

// The destination's side of the commit protocol (PROTOCOL.md, "Commit"): an OutcomeQuery as the first frame of
// a connection is answered from the journal, a committed guest waits parked for Confirm (here delivered over an
// outcome connection after the control connection died), and a restarted destination remembers what it aborted.
describe('outcome connections and the journal at the destination', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'livemig-outcome-test-'));
  let agent: DestAgent;
  let address: { host: string; port: number };
  let registers: Uint8Array[];
  beforeAll(async () => {
    agent = new DestAgent({ maxMemoryBytes: 64 * 1024 * 1024, warmChannels: 1, warmVcpus: 1, stateDir });
    address = await agent.listen(0);
    registers = await pausedGuestRegisters();
  });
  afterAll(async () => {
    await agent.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function query(migrationId: string): Promise<{ conn: FramedSocket; outcome: string }> {
    const conn = await connectTo(address);
    await conn.send(encodeOutcomeQuery({ migrationId }));
    const answer = await conn.receive(30_000, 'Outcome');
    if (answer.type !== FrameType.Outcome) throw new Error(`expected Outcome, got frame type ${answer.type}`);
    expect(answer.message.migrationId).toBe(migrationId);
    return { conn, outcome: answer.message.outcome };
  }

  async function helloAnswer(migrationId: string): Promise<{ type: number; code?: string }> {
    const conn = await connectTo(address);
    await conn.send(hello({ migrationId }));
    const answer = await conn.receive(30_000, 'Accept or Refuse');
    conn.destroy();
    return answer.type === FrameType.Refuse ? { type: answer.type, code: answer.message.code } : { type: answer.type };
  }

  it('an id never seen is answered aborted without a journal record: a Hello for it is then refused', async () => {
    const { conn, outcome } = await query('never-seen-1');
    expect(outcome).toBe('aborted');
    await expect(conn.receive(5_000)).rejects.toMatchObject({ code: 'LM_ERR_PEER_CLOSED' });
    expect(agent.journal.get('never-seen-1')).toBeUndefined();
    expect(await helloAnswer('never-seen-1')).toEqual({ type: FrameType.Refuse, code: 'LM_ERR_OUTCOME_DECIDED' });
  });

  it('a migration that fails after its Hello is journaled aborted: a Hello for its id is then refused', async () => {
    const source = await connectTo(address);
    await source.send(hello({ migrationId: 'aborted-1' }));
    expect((await source.receive(30_000, 'Accept')).type).toBe(FrameType.Accept);
    const failed = once(agent, 'failed');
    source.destroy();
    await failed;
    expect(agent.journal.get('aborted-1')).toMatchObject({ outcome: 'aborted' });
    expect(await helloAnswer('aborted-1')).toEqual({ type: FrameType.Refuse, code: 'LM_ERR_OUTCOME_DECIDED' });
  });

  /** Takes a guest to Committed, then cuts its control connection: it stays parked here, committed. */
  async function parkedGuest(migrationId: string): Promise<void> {
    const source = await connectTo(address);
    await source.send(hello({ migrationId }));
    const accept = await source.receive(30_000, 'Accept');
    if (accept.type !== FrameType.Accept) throw new Error(`expected Accept, got frame type ${accept.type}`);
    const channel = await connectTo({ host: address.host, port: accept.message.channelPorts[0]! });
    await channel.send(encodeChannelHello({ reservationId: accept.message.reservationId, channel: 0 }));
    await channel.send(encodeRoundBegin({ round: 1, pages: 0 }));
    await channel.send(encodeRoundEnd({ round: 1, pages: 0 }));
    const digest = PageChecksums.create(PAGES).digest(registers);
    await source.send(encodeCpuState({ registers, running: false }));
    await source.send(encodeComplete({ digest, pagesSent: 0, rounds: 1, nonce: newCommitNonce() }));
    expect((await source.receive(30_000, 'Committed')).type).toBe(FrameType.Committed);
    source.destroy();
    channel.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(agent.parked.get(migrationId)).toBeDefined();
  }

  it('a committed guest whose control connection died stays parked; an outcome connection brings Confirm and gets Activated', async () => {
    const migrationId = 'parked-then-confirmed';
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    await parkedGuest(migrationId);
    expect(agent.incoming().find((report) => report.guestId === 'incoming-test' && report.status === 'committed')).toBeDefined();

    const { conn, outcome } = await query(migrationId);
    expect(outcome).toBe('committed');
    await conn.send(encodeConfirm({ migrationId }));
    expect((await conn.receive(30_000, 'Activated')).type).toBe(FrameType.Activated);
    const [arrival] = await arrived;
    try {
      expect(arrival.report.status).toBe('completed');
      expect(arrival.guest.cpuState()).toEqual(registers);
      // A second Confirm, as a source whose Activated was lost sends it, is answered with Activated again.
      const again = await query(migrationId);
      expect(again.outcome).toBe('committed');
      await again.conn.send(encodeConfirm({ migrationId }));
      expect((await again.conn.receive(30_000, 'Activated')).type).toBe(FrameType.Activated);
    } finally {
      await arrival.guest.stop();
      arrival.reservation.release();
      conn.destroy();
    }
  });

  it("the operator's decision on a parked guest: discard is journaled and answered (a Confirm after it is refused), resume activates it", async () => {
    await parkedGuest('parked-then-discarded');
    const discarded = agent.incoming().find((report) => report.status === 'committed')!;
    // A source that asked before the discard heard committed; its Confirm comes after it.
    const early = await query('parked-then-discarded');
    expect(early.outcome).toBe('committed');
    expect(await agent.resolve(discarded.id, 'discard')).toMatchObject({ status: 'failed', error: { code: 'LM_ERR_OUTCOME_DECIDED' } });
    expect(agent.journal.get('parked-then-discarded')).toMatchObject({ outcome: 'discarded' });
    await early.conn.send(encodeConfirm({ migrationId: 'parked-then-discarded' }));
    await expect(early.conn.receive(30_000, 'Activated')).rejects.toMatchObject({ code: 'LM_ERR_OUTCOME_DECIDED' });
    // Asked again, it hears discarded: its copy is the only one left, and it may resume it.
    const late = await query('parked-then-discarded');
    expect(late.outcome).toBe('discarded');
    await expect(late.conn.receive(5_000)).rejects.toMatchObject({ code: 'LM_ERR_PEER_CLOSED' });
    await expect(agent.resolve(discarded.id, 'resume')).rejects.toMatchObject({ code: 'LM_ERR_OUTCOME_DECIDED' });

    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    await parkedGuest('parked-then-resumed');
    const parked = agent.incoming().find((report) => report.status === 'committed')!;
    expect(await agent.resolve(parked.id, 'resume')).toMatchObject({ status: 'completed' });
    const [arrival] = await arrived;
    expect(arrival.guest.cpuState()).toEqual(registers);
    await arrival.guest.stop();
    arrival.reservation.release();
  });

  it('a destination restarted with its journal refuses an id it aborted, and answers unknown for one it committed', async () => {
    await agent.close();
    agent = new DestAgent({ maxMemoryBytes: 64 * 1024 * 1024, warmChannels: 1, warmVcpus: 1, stateDir });
    address = await agent.listen(0);
    expect(await helloAnswer('aborted-1')).toEqual({ type: FrameType.Refuse, code: 'LM_ERR_OUTCOME_DECIDED' });
    expect((await query('aborted-1')).outcome).toBe('aborted');
    expect((await query('parked-then-confirmed')).outcome).toBe('unknown');
    expect((await query('parked-then-discarded')).outcome).toBe('discarded');
  });
});
