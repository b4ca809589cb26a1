import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BadArgumentError, JournalError, OutcomeDecidedError, crc32, isMigrationId, type MigrationOutcome } from '@livemig/protocol';

/**
 * What the journal records for a migration id. The first record of an id is final, with one exception: a
 * committed id whose parked guest was dropped before it ever ran is recorded `discarded` after it.
 */
export type JournalOutcome = 'committed' | 'aborted' | 'discarded';

export interface JournalRecord {
  migrationId: string;
  outcome: JournalOutcome;
  /** When it was recorded, ISO 8601, this host's clock. */
  at: string;
  /** True when this process recorded it; false when it was read from the file at open (an earlier run). */
  thisRun: boolean;
}

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
}

/** The journal's file name inside the state directory. */
export const COMMIT_JOURNAL_FILE = 'commit-journal.log';

/** A line: CRC-32 of the JSON text as 8 lowercase hex characters, a space, the JSON text, a newline. */
const LINE = /^([0-9a-f]{8}) (\{.*\})$/;
const NEWLINE = 0x0a;

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
  #writes: Promise<unknown> = Promise.resolve();
  #broken: JournalError | undefined;
  #closed = false;

  private constructor(path: string, file: FileHandle, loaded: JournalRecord[], tornBytes: number, now: () => Date) {
    this.path = path;
    this.#file = file;
    this.tornBytes = tornBytes;
    this.#now = now;
    for (const record of loaded) {
      this.#records.set(record.migrationId, record);
      this.#durable.set(record.migrationId, Promise.resolve(record));
    }
  }

  /**
   * Opens the journal in `stateDir`, creating both if missing, and reads back every record.
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
      const file = await open(path, 'a');
      if (existing === undefined) {
        // The new file's directory entry must be durable too, or a crash could lose the whole journal.
        const dir = await open(options.stateDir, 'r');
        await dir.sync().finally(() => dir.close());
      }
      const tornBytes = (existing?.length ?? 0) - goodBytes;
      if (tornBytes > 0) {
        await file.truncate(goodBytes);
        await file.sync();
      }
      return new CommitJournal(path, file, records, tornBytes, options.now ?? (() => new Date()));
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
   * What to answer an OutcomeQuery for `migrationId`: `committed` if this run committed it, `aborted` if it is
   * recorded aborted or has no record (then recorded aborted first, durably), `unknown` if an earlier run
   * committed it or its record cannot be made or was not made durable. Never rejects.
   * @throws BadArgumentError for an id the wire would not carry.
   */
  async answerQuery(migrationId: string): Promise<OutcomeAnswer> {
    checkId(migrationId);
    let record: JournalRecord;
    try {
      const pending = this.#durable.get(migrationId);
      record = await (pending ?? this.recordAborted(migrationId));
      if (!pending) return { outcome: 'aborted', reason: 'never seen here: now recorded aborted, so it can never be committed' };
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

function formatLine(record: JournalRecord): string {
  const json = JSON.stringify({ migrationId: record.migrationId, outcome: record.outcome, at: record.at });
  return `${crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0')} ${json}\n`;
}

/**
 * The records of a journal file and how many of its bytes hold them. Bytes after the last newline, or a last
 * line that does not read, are a torn record: not counted. Any earlier line that does not read is corruption.
 * @throws JournalError
 */
function parse(bytes: Buffer, path: string): { records: JournalRecord[]; goodBytes: number } {
  const lines: Array<{ start: number; end: number }> = [];
  for (let start = 0; ; ) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end < 0) break;
    lines.push({ start, end });
    start = end + 1;
  }
  const tornTail = bytes.length > (lines.at(-1)?.end ?? -1) + 1;
  const seen = new Map<string, JournalRecord>();
  for (const [i, { start, end }] of lines.entries()) {
    const record = readLine(bytes.toString('utf8', start, end));
    if (typeof record === 'string') {
      if (i === lines.length - 1 && !tornTail) return { records: [...seen.values()], goodBytes: start };
      throw new JournalError(`the commit journal ${path} is corrupt: line ${i + 1} (byte ${start}) ${record}`);
    }
    const earlier = seen.get(record.migrationId);
    if (earlier?.outcome === record.outcome) continue;
    const discarded = earlier?.outcome === 'committed' && record.outcome === 'discarded';
    if (earlier ? !discarded : record.outcome === 'discarded') {
      const before = earlier ? `recorded ${earlier.outcome} before` : 'never recorded committed';
      throw new JournalError(`the commit journal ${path} is corrupt: line ${i + 1} records ${record.migrationId} ${record.outcome}, ${before}`);
    }
    seen.set(record.migrationId, record);
  }
  // One record per id, the last; in the order the ids were first recorded.
  return { records: [...seen.values()], goodBytes: lines.length === 0 ? 0 : lines.at(-1)!.end + 1 };
}

/** A record read back (thisRun false), or what is wrong with the line. */
function readLine(line: string): JournalRecord | string {
  const match = LINE.exec(line);
  if (!match) return 'is not a CRC and a JSON record';
  const [, crc, json] = match as unknown as [string, string, string];
  if (crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0') !== crc) return 'fails its CRC';
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return 'is not JSON';
  }
  const { migrationId, outcome, at } = (value ?? {}) as Record<string, unknown>;
  if (!isMigrationId(migrationId)) return 'has no valid migrationId';
  if (outcome !== 'committed' && outcome !== 'aborted' && outcome !== 'discarded') return 'has no valid outcome';
  if (typeof at !== 'string') return "has no 'at'";
  return { migrationId, outcome, at, thisRun: false };
}
