import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType, encodeOutcomeQuery } from '@livemig/protocol';
import { COMMIT_JOURNAL_FILE, DestAgent } from '@livemig/dest-agent';
import { connectTo, hello } from './helpers.js';

// A hostile peer without a token asks about ids this destination never saw, as fast as it can. Each is answered
// `aborted` without a journal record (PROTOCOL.md, "Commit", rule 9), so the journal stays empty and no query
// costs an fsync; the ids asked about most recently still have their Hello refused.
const QUERIES = 10_000;
const CONCURRENT = 32;

describe('outcome queries for ids never seen here', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'livemig-flood-test-'));
  let agent: DestAgent;
  let address: { host: string; port: number };
  beforeAll(async () => {
    agent = new DestAgent({ maxMemoryBytes: 64 * 1024 * 1024, warmChannels: 1, warmVcpus: 1, stateDir });
    address = await agent.listen(0);
  });
  afterAll(async () => {
    await agent.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function ask(migrationId: string): Promise<string> {
    const conn = await connectTo(address);
    try {
      await conn.send(encodeOutcomeQuery({ migrationId }));
      const answer = await conn.receive(30_000, 'Outcome');
      if (answer.type !== FrameType.Outcome) throw new Error(`expected Outcome, got frame type ${answer.type}`);
      return answer.message.outcome;
    } finally {
      conn.destroy();
    }
  }

  it(`${QUERIES} queries for fresh ids leave the journal empty, and a Hello for a recent one is refused`, async () => {
    const answers = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < QUERIES) {
          const outcome = await ask(`flood-${next++}`);
          answers.set(outcome, (answers.get(outcome) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(answers)).toEqual({ aborted: QUERIES });
    expect(statSync(join(stateDir, COMMIT_JOURNAL_FILE)).size).toBe(0);
    expect(agent.journal.records()).toEqual([]);

    const conn = await connectTo(address);
    await conn.send(hello({ migrationId: `flood-${QUERIES - 1}` }));
    const refusal = await conn.receive(30_000, 'Refuse');
    conn.destroy();
    expect(refusal).toMatchObject({ type: FrameType.Refuse, message: { code: 'LM_ERR_OUTCOME_DECIDED' } });
  });
});
