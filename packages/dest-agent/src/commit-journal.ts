import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BadArgumentError, JournalError, OutcomeDecidedError, isMigrationId, type MigrationOutcome } from '@livemig/protocol';
import { compacted, formatLine, parse, rewriteJournal, type JournalOutcome, type JournalRecord } from './commit-journal-file.js';

export type { JournalOutcome, JournalRecord } from './commit-journal-file.js';

/** The answer to an OutcomeQuery (PROTOCOL.md, "Commit", rule 9). */
export interface OutcomeAnswer {
  outcome: MigrationOutcome;
  reason?: string;
}

export interface CommitJournalOptions {
  /** The destination's state directory (created if missing). One destination agent per directory. */
  stateDir: string;
  /** The clock for `at`; tests pass their own. */
  now?: () => Date;
  /** `aborted` records kept when the file is compacted at open (default MAX_ABORTED_KEPT). */
  maxAbortedKept?: number;
  /** Never-seen ids asked about that are remembered, without a record, to refuse their Hello (default MAX_UNSEEN_REMEMBERED). */
  maxUnseenRemembered?: number;
}

/** The journal's file name inside the state directory. */
export const COMMIT_JOURNAL_FILE = 'commit-journal.log';
/** `aborted` records a journal keeps when compacted at open: older ones are dropped (commit-journal-file.ts). */
export const MAX_ABORTED_KEPT = 10_000;
/** Never-seen ids asked about, remembered in memory (oldest forgotten first): a Hello for one is refused. */
export const MAX_UNSEEN_REMEMBERED = 4_096;

/**
 * The destination's durable record of which migration ids it committed and which it aborted, so that it
 * never commits an id it told a source it aborted, and a restart does not forget (PROTOCOL.md, "Commit").
 *
 * Append-only: one line per record, written and fsynced before the promise of `recordCommitted` or
 * `recordAborted` resolves; only then may the caller send Committed, Abort or Outcome. Writes go one at a
 * time, so at most the last line can be torn by a crash; it was never acknowledged, and `open` ignores it and
 * cuts it off. Any other unreadable line is corruption, and `open` refuses the file.
 *
 * The rule is enforced here: an id's first record is claimed synchronously, before any await, so of two
 * concurrent calls for one id the first wins and the opposite one rejects with LM_ERR_OUTCOME_DECIDED. The one
 * later record an id may get is `discarded`, after `committed` (claimed the same way). After a
 * failed write the journal takes no more records (an fsync that failed once may not have written, and a retry
 * that succeeds proves nothing); what was durable before is still answered.
 */
export class CommitJournal {
  readonly path: string;
  /** Bytes of a torn last record found and cut off by `open` (0 when the file ended cleanly). */
  readonly tornBytes: number;
  readonly #file: FileHandle;
  readonly #now: () => Date;
  readonly #records = new Map<string, JournalRecord>();
  /** Per id, settles once its record is on disk (resolves) or failed to get there (rejects). */
  readonly #durable = new Map<string, Promise<JournalRecord>>();
  /**
   * Ids never seen here that an outcome query was answered `aborted` for without a record (`answerQuery`), in
   * the order asked, at most `#maxUnseen`: never committed while remembered, and their Hello is refused.
   */
  readonly #unseenAsked = new Set<string>();
  readonly #maxUnseen: number;
  #writes: Promise<unknown> = Promise.resolve();
  #broken: JournalError | undefined;
  #closed = false;

  private constructor(path: string, file: FileHandle, loaded: JournalRecord[], tornBytes: number, options: CommitJournalOptions) {
    this.path = path;
    this.#file = file;
    this.tornBytes = tornBytes;
    this.#now = options.now ?? (() => new Date());
    this.#maxUnseen = options.maxUnseenRemembered ?? MAX_UNSEEN_REMEMBERED;
    for (const record of loaded) {
      this.#records.set(record.migrationId, record);
      this.#durable.set(record.migrationId, Promise.resolve(record));
    }
  }

  /**
   * Opens the journal in `stateDir`, creating both if missing, and reads back every record. A file holding more
   * than `maxAbortedKept` aborted records is compacted first: rewritten without the oldest of them.
   * @throws JournalError when the directory or file cannot be opened or written, a line before the last is
   *   unreadable, or one id carries both outcomes.
   */
  static async open(options: CommitJournalOptions): Promise<CommitJournal> {
    const path = join(options.stateDir, COMMIT_JOURNAL_FILE);
    try {
      await mkdir(options.stateDir, { recursive: true });
      const existing = await readFile(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      const { records, goodBytes } = parse(existing ?? Buffer.alloc(0), path);
      const tornBytes = (existing?.length ?? 0) - goodBytes;
      const kept = compacted(records, options.maxAbortedKept ?? MAX_ABORTED_KEPT);
      // The rewrite leaves out a torn last record too.
      if (kept !== records) await rewriteJournal(path, kept);
      const file = await open(path, 'a');
      if (existing === undefined) {
        // The new file's directory entry must be durable too, or a crash could lose the whole journal.
        const dir = await open(options.stateDir, 'r');
        await dir.sync().finally(() => dir.close());
      }
      if (tornBytes > 0 && kept === records) {
        await file.truncate(goodBytes);
        await file.sync();
      }
      return new CommitJournal(path, file, kept, tornBytes, options);
    } catch (error) {
      if (error instanceof JournalError) throw error;
      throw new JournalError(`cannot open the commit journal ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The record of `migrationId`, durable or being written; undefined when there is none. */
  get(migrationId: string): JournalRecord | undefined {
    const record = this.#records.get(migrationId);
    return record && { ...record };
  }

  /** Every record, in the order they were first recorded (those read at open first). */
  records(): JournalRecord[] {
    return [...this.#records.values()].map((record) => ({ ...record }));
  }

  /**
   * Records that this destination commits `migrationId`; resolves once the record is on disk, after which
   * Committed may be sent. Resolves with the same record again for an id already committed.
   * @throws OutcomeDecidedError if the id is recorded aborted; JournalError if it cannot be written;
   *   BadArgumentError for an id the wire would not carry.
   */
  recordCommitted(migrationId: string): Promise<JournalRecord> {
    return this.#record(migrationId, 'committed');
  }

  /**
   * Records that this destination aborts `migrationId` and will never commit it; resolves once on disk.
   * Resolves with the same record again for an id already aborted.
   * @throws OutcomeDecidedError if the id is recorded committed; JournalError if it cannot be written;
   *   BadArgumentError for an id the wire would not carry.
   */
  recordAborted(migrationId: string): Promise<JournalRecord> {
    return this.#record(migrationId, 'aborted');
  }

  /**
   * Records that the committed guest of `migrationId` is dropped before it ever ran (the operator's discard, or
   * the source's Abort instead of Confirm); resolves once on disk, after which the guest may be dropped. From
   * then on an outcome query answers `discarded`: the destination's copy is gone for good, so the source may
   * resume its own. Resolves with the same record again for an id already discarded.
   * @throws OutcomeDecidedError unless the id is recorded committed (by this run: only this run holds guests);
   *   JournalError if it cannot be written; BadArgumentError for an id the wire would not carry.
   */
  recordDiscarded(migrationId: string): Promise<JournalRecord> {
    return this.#record(migrationId, 'discarded');
  }

  /**
   * What to answer an OutcomeQuery for `migrationId` (PROTOCOL.md, "Commit", rule 9): `committed` if this run
   * committed it; `discarded` if it was committed and then discarded; `aborted` if it is recorded aborted or has
   * no record; `unknown` if an earlier run committed it, or its record cannot be made or was not made durable.
   * An id with no record that is `inFlight` here (its Hello passed the handshake) is recorded aborted first,
   * durably, so that its migration can never commit. One that is not, never seen here, costs no write: it is
   * remembered in memory instead (a bounded number of them), never committed and its Hello refused while
   * remembered. Never rejects.
   * @throws BadArgumentError for an id the wire would not carry.
   */
  async answerQuery(migrationId: string, inFlight = false): Promise<OutcomeAnswer> {
    checkId(migrationId);
    let record: JournalRecord;
    const pending = this.#durable.get(migrationId);
    if (!pending && !inFlight) {
      this.#rememberUnseen(migrationId);
      return { outcome: 'aborted', reason: 'never seen here: it will not be taken now' };
    }
    try {
      record = await (pending ?? this.recordAborted(migrationId));
      if (!pending) return { outcome: 'aborted', reason: 'in flight here: now recorded aborted, so it can never be committed' };
    } catch (error) {
      return { outcome: 'unknown', reason: `the commit journal cannot record it: ${(error as Error).message}` };
    }
    if (record.outcome === 'aborted') return { outcome: 'aborted', reason: `aborted here at ${record.at}` };
    if (record.outcome === 'discarded') {
      return { outcome: 'discarded', reason: `committed, then its parked guest was discarded here at ${record.at} before it ever ran` };
    }
    if (record.thisRun) return { outcome: 'committed' };
    return {
      outcome: 'unknown',
      reason: `committed at ${record.at} by an earlier run of this destination, whose copy of the guest ended with it`,
    };
  }

  /** Whether an outcome query for `migrationId` was answered `aborted` before any Hello for it (see answerQuery). */
  askedBeforeHello(migrationId: string): boolean {
    return this.#unseenAsked.has(migrationId);
  }

  #rememberUnseen(migrationId: string): void {
    this.#unseenAsked.delete(migrationId);
    this.#unseenAsked.add(migrationId);
    // A Set iterates in insertion order: the first id is the one asked about longest ago.
    if (this.#unseenAsked.size > this.#maxUnseen) this.#unseenAsked.delete(this.#unseenAsked.values().next().value!);
  }

  /** Waits for the writes under way, then closes the file; later records reject with JournalError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writes.catch(() => {});
    await this.#file.close();
  }

  #record(migrationId: string, outcome: JournalOutcome): Promise<JournalRecord> {
    try {
      checkId(migrationId);
    } catch (error) {
      return Promise.reject(error);
    }
    const existing = this.#records.get(migrationId);
    if (existing?.outcome === outcome) return this.#durable.get(migrationId)!;
    // The one change of outcome: a guest committed by this run, dropped before it ever ran.
    const discarding = outcome === 'discarded' && existing?.outcome === 'committed' && existing.thisRun;
    if (existing ? !discarding : outcome === 'discarded') {
      const was = existing ? `was recorded ${existing.outcome}${existing.thisRun ? '' : ' by an earlier run'} at ${existing.at}` : 'was never committed here';
      return Promise.reject(new OutcomeDecidedError(`migration ${migrationId} ${was}: it cannot be ${outcome}`));
    }
    if (outcome === 'committed' && this.#unseenAsked.has(migrationId)) {
      return Promise.reject(new OutcomeDecidedError(`migration ${migrationId} was answered aborted to an outcome query before its Hello: it cannot be committed`));
    }
    if (this.#closed) return Promise.reject(new JournalError(`the commit journal ${this.path} is closed`));
    if (this.#broken) return Promise.reject(this.#broken);
    const record: JournalRecord = { migrationId, outcome, at: this.#now().toISOString(), thisRun: true };
    // Claimed before the first await: the rule holds for concurrent callers too.
    this.#records.set(migrationId, record);
    const durable = this.#append(formatLine(record)).then(() => ({ ...record }));
    this.#durable.set(migrationId, durable);
    durable.catch(() => {}); // the caller sees the rejection; an answerQuery later reads it from the map
    return durable;
  }

  #append(line: string): Promise<void> {
    const write = this.#writes.then(async () => {
      if (this.#broken) throw this.#broken;
      try {
        const bytes = Buffer.from(line, 'utf8');
        const { bytesWritten } = await this.#file.write(bytes);
        if (bytesWritten !== bytes.length) throw new Error(`wrote ${bytesWritten} of ${bytes.length} bytes`);
        await this.#file.sync();
      } catch (error) {
        this.#broken = new JournalError(`cannot write the commit journal ${this.path}: ${(error as Error).message}`, { cause: error });
        throw this.#broken;
      }
    });
    this.#writes = write.catch(() => {});
    return write;
  }
}

function checkId(migrationId: string): void {
  if (!isMigrationId(migrationId)) throw new BadArgumentError(`not a migration id: ${JSON.stringify(migrationId)}`);
}
