import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32 } from '@livemig/protocol';
import { COMMIT_JOURNAL_FILE, CommitJournal } from '@livemig/dest-agent';

const AT = new Date('2026-11-21T10:00:00.000Z');
const now = (): Date => AT;

/** A journal line built here, not by the journal: CRC-32 of the JSON as 8 hex characters, a space, the JSON. */
function line(migrationId: string, outcome: string, at = AT.toISOString()): string {
  const json = JSON.stringify({ migrationId, outcome, at });
  return `${crc32(Buffer.from(json)).toString(16).padStart(8, '0')} ${json}\n`;
}

describe('commit journal', () => {
  let dir: string;
  let file: string;
  const open = (): Promise<CommitJournal> => CommitJournal.open({ stateDir: dir, now });
  const decided = expect.objectContaining({ code: 'LM_ERR_OUTCOME_DECIDED' });

  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'livemig-journal-')), 'state');
    file = join(dir, COMMIT_JOURNAL_FILE);
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('creates its state directory and an empty file', async () => {
    const journal = await open();
    expect(journal.path).toBe(file);
    expect(journal.records()).toEqual([]);
    expect(journal.tornBytes).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('');
    await journal.close();
  });

  it('a record is in the file when its promise resolves, one line each', async () => {
    const journal = await open();
    const committed = await journal.recordCommitted('m-1');
    expect(committed).toEqual({ migrationId: 'm-1', outcome: 'committed', at: AT.toISOString(), thisRun: true });
    expect(readFileSync(file, 'utf8')).toBe(line('m-1', 'committed'));
    await journal.recordAborted('m-2');
    expect(readFileSync(file, 'utf8')).toBe(line('m-1', 'committed') + line('m-2', 'aborted'));
    await journal.close();
  });

  it('reopened after close, it remembers every record, as recorded by an earlier run', async () => {
    const first = await open();
    await first.recordCommitted('m-1');
    await first.recordAborted('m-2');
    await first.close();
    const second = await open();
    expect(second.records()).toEqual([
      { migrationId: 'm-1', outcome: 'committed', at: AT.toISOString(), thisRun: false },
      { migrationId: 'm-2', outcome: 'aborted', at: AT.toISOString(), thisRun: false },
    ]);
    expect(second.get('m-2')?.outcome).toBe('aborted');
    expect(second.get('m-3')).toBeUndefined();
    await second.close();
  });

  it('refuses to commit an aborted id and to abort a committed one, also after a restart', async () => {
    const first = await open();
    await first.recordAborted('aborted-id');
    await first.recordCommitted('committed-id');
    await expect(first.recordCommitted('aborted-id')).rejects.toThrow(decided);
    await expect(first.recordAborted('committed-id')).rejects.toThrow(decided);
    await first.close();
    const second = await open();
    await expect(second.recordCommitted('aborted-id')).rejects.toThrow(decided);
    await expect(second.recordAborted('committed-id')).rejects.toThrow(
      expect.objectContaining({ message: expect.stringContaining('by an earlier run') }),
    );
    await second.close();
    expect(readFileSync(file, 'utf8')).toBe(line('aborted-id', 'aborted') + line('committed-id', 'committed'));
  });

  it('discards only an id this run committed; the record follows the commit, and a restart reads it back', async () => {
    const first = await open();
    await first.recordCommitted('kept');
    await first.recordAborted('aborted-id');
    await expect(first.recordDiscarded('never-committed')).rejects.toThrow(decided);
    await expect(first.recordDiscarded('aborted-id')).rejects.toThrow(decided);
    expect(await first.recordDiscarded('kept')).toMatchObject({ outcome: 'discarded', thisRun: true });
    await expect(first.recordAborted('kept')).rejects.toThrow(decided);
    await expect(first.recordCommitted('kept')).rejects.toThrow(decided);
    await first.close();
    expect(readFileSync(file, 'utf8')).toBe(line('kept', 'committed') + line('aborted-id', 'aborted') + line('kept', 'discarded'));
    const second = await open();
    expect(second.records().map(({ migrationId, outcome }) => [migrationId, outcome])).toEqual([
      ['kept', 'discarded'],
      ['aborted-id', 'aborted'],
    ]);
    await second.close();
  });

  it('refuses a file that records discarded for an id it recorded aborted (LM_ERR_JOURNAL)', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, line('m', 'aborted') + line('m', 'discarded'));
    await expect(open()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_JOURNAL', message: expect.stringContaining('line 2') }));
  });

  it('of two calls for one id in the same turn, the first wins', async () => {
    const journal = await open();
    const [abort, commit] = await Promise.allSettled([journal.recordAborted('race'), journal.recordCommitted('race')]);
    expect(abort).toMatchObject({ status: 'fulfilled', value: { outcome: 'aborted' } });
    expect(commit).toMatchObject({ status: 'rejected', reason: decided });
    expect(journal.get('race')?.outcome).toBe('aborted');
    await journal.close();
  });

  it('recording the same outcome again resolves with the first record and writes nothing', async () => {
    const journal = await open();
    const [a, b] = await Promise.all([journal.recordCommitted('m'), journal.recordCommitted('m')]);
    expect(b).toEqual(a);
    expect(await journal.recordCommitted('m')).toEqual(a);
    expect(readFileSync(file, 'utf8')).toBe(line('m', 'committed'));
    await journal.close();
  });

  it('ignores a torn last record (no newline), cuts it off, and appends cleanly after it', async () => {
    const first = await open();
    await first.recordCommitted('kept');
    await first.close();
    const torn = line('torn', 'committed').slice(0, 30);
    appendFileSync(file, torn);
    const second = await open();
    expect(second.tornBytes).toBe(torn.length);
    expect(second.records().map((r) => r.migrationId)).toEqual(['kept']);
    expect(statSync(file).size).toBe(line('kept', 'committed').length);
    // The torn record was never acknowledged: the id is free, and the next record starts on a line of its own.
    await second.recordAborted('torn');
    await second.close();
    const third = await open();
    expect(third.tornBytes).toBe(0);
    expect(third.records().map((r) => [r.migrationId, r.outcome])).toEqual([['kept', 'committed'], ['torn', 'aborted']]);
    await third.close();
  });

  it('ignores a last line that fails its CRC (a torn write that reached the newline)', async () => {
    const bad = line('bad', 'committed').replace('committed', 'commixted');
    await (await open()).close();
    writeFileSync(file, line('good', 'aborted') + bad);
    const journal = await open();
    expect(journal.tornBytes).toBe(bad.length);
    expect(journal.records().map((r) => r.migrationId)).toEqual(['good']);
    await journal.close();
  });

  it('refuses a file with an unreadable line before the last (LM_ERR_JOURNAL)', async () => {
    await (await open()).close();
    writeFileSync(file, line('a', 'aborted') + 'garbage\n' + line('b', 'committed'));
    await expect(open()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_JOURNAL', message: expect.stringContaining('line 2') }));
  });

  it('refuses a file that records one id with both outcomes (LM_ERR_JOURNAL)', async () => {
    await (await open()).close();
    writeFileSync(file, line('a', 'aborted') + line('a', 'committed'));
    await expect(open()).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_JOURNAL', message: expect.stringContaining('recorded aborted before') }));
  });

  it('refuses a state directory that is a file (LM_ERR_JOURNAL)', async () => {
    writeFileSync(join(dir, '..', 'plain-file'), '');
    await expect(CommitJournal.open({ stateDir: join(dir, '..', 'plain-file') })).rejects.toThrow(
      expect.objectContaining({ code: 'LM_ERR_JOURNAL' }),
    );
  });

  it('refuses an id the wire would not carry (LM_ERR_BAD_ARGUMENT)', async () => {
    const journal = await open();
    await expect(journal.recordCommitted('has space')).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    await expect(journal.recordAborted('')).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    await journal.close();
  });

  it('once closed, takes no more records (LM_ERR_JOURNAL)', async () => {
    const journal = await open();
    await journal.close();
    await expect(journal.recordCommitted('late')).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_JOURNAL' }));
  });
});

describe('outcome query answers', () => {
  let dir: string;
  const open = (): Promise<CommitJournal> => CommitJournal.open({ stateDir: dir, now });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'livemig-journal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('an id never seen is answered aborted without a write, and is not committed while remembered', async () => {
    const journal = await open();
    expect(await journal.answerQuery('unseen')).toMatchObject({ outcome: 'aborted', reason: expect.stringContaining('never seen') });
    expect(readFileSync(join(dir, COMMIT_JOURNAL_FILE), 'utf8')).toBe('');
    expect(journal.askedBeforeHello('unseen')).toBe(true);
    await expect(journal.recordCommitted('unseen')).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_OUTCOME_DECIDED' }));
    await journal.close();
  });

  it('an id in flight with no record is recorded aborted, durably, before the answer, and can never be committed', async () => {
    const journal = await open();
    expect(await journal.answerQuery('in-flight', true)).toMatchObject({ outcome: 'aborted' });
    expect(readFileSync(join(dir, COMMIT_JOURNAL_FILE), 'utf8')).toBe(line('in-flight', 'aborted'));
    await expect(journal.recordCommitted('in-flight')).rejects.toThrow(expect.objectContaining({ code: 'LM_ERR_OUTCOME_DECIDED' }));
    await journal.close();
  });

  it('remembers at most maxUnseenRemembered never-seen ids, forgetting the oldest first', async () => {
    const journal = await CommitJournal.open({ stateDir: dir, now, maxUnseenRemembered: 2 });
    for (const id of ['a', 'b', 'a', 'c']) await journal.answerQuery(id);
    expect(['a', 'b', 'c'].map((id) => journal.askedBeforeHello(id))).toEqual([true, false, true]);
    await journal.close();
  });

  it('compacts at open: every committed and discarded record, and the newest maxAbortedKept aborted ones', async () => {
    const first = await open();
    for (const id of ['a1', 'a2']) await first.recordAborted(id);
    await first.recordCommitted('c');
    for (const id of ['a3', 'a4']) await first.recordAborted(id);
    await first.recordCommitted('d');
    await first.recordDiscarded('d');
    await first.close();
    appendFileSync(join(dir, COMMIT_JOURNAL_FILE), '0000'); // a torn last record goes too
    const second = await CommitJournal.open({ stateDir: dir, now, maxAbortedKept: 2 });
    expect(second.records().map(({ migrationId }) => migrationId)).toEqual(['c', 'a3', 'a4', 'd']);
    expect(readFileSync(join(dir, COMMIT_JOURNAL_FILE), 'utf8')).toBe(
      line('c', 'committed') + line('a3', 'aborted') + line('a4', 'aborted') + line('d', 'discarded'),
    );
    await second.recordAborted('a5');
    await second.close();
    const third = await open();
    expect(third.records().map(({ migrationId }) => migrationId)).toEqual(['c', 'a3', 'a4', 'd', 'a5']);
    await third.close();
  });

  it('committed in this run: committed; aborted: aborted', async () => {
    const journal = await open();
    await journal.recordCommitted('c');
    await journal.recordAborted('a');
    expect(await journal.answerQuery('c')).toEqual({ outcome: 'committed' });
    expect(await journal.answerQuery('a')).toMatchObject({ outcome: 'aborted' });
    await journal.close();
  });

  it('a query while the commit record is being written waits for it', async () => {
    const journal = await open();
    const committing = journal.recordCommitted('c');
    const answer = journal.answerQuery('c');
    await committing;
    expect(await answer).toEqual({ outcome: 'committed' });
    await journal.close();
  });

  it('after a restart: committed by the earlier run is unknown, aborted stays aborted', async () => {
    const first = await open();
    await first.recordCommitted('c');
    await first.recordAborted('a');
    await first.close();
    const second = await open();
    const answer = await second.answerQuery('c');
    expect(answer.outcome).toBe('unknown');
    expect(answer.reason).toContain('earlier run');
    expect(await second.answerQuery('a')).toMatchObject({ outcome: 'aborted' });
    await second.close();
  });

  it('discarded, in this run or an earlier one: discarded (the copy never ran and is gone)', async () => {
    const first = await open();
    await first.recordCommitted('d');
    await first.recordDiscarded('d');
    expect(await first.answerQuery('d')).toMatchObject({ outcome: 'discarded', reason: expect.stringContaining('before it ever ran') });
    await first.close();
    const second = await open();
    expect(await second.answerQuery('d')).toMatchObject({ outcome: 'discarded' });
    await second.close();
  });

  it('a journal that cannot record answers unknown for an id in flight it has no record of', async () => {
    const journal = await open();
    await journal.recordAborted('a');
    await journal.close();
    expect(await journal.answerQuery('new', true)).toMatchObject({ outcome: 'unknown', reason: expect.stringContaining('cannot record') });
    expect(await journal.answerQuery('never-seen')).toMatchObject({ outcome: 'aborted' });
    expect(await journal.answerQuery('a')).toMatchObject({ outcome: 'aborted' });
  });
});
