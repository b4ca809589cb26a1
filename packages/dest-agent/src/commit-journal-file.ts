import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { JournalError, crc32, isMigrationId } from '@livemig/protocol';

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

/** A line: CRC-32 of the JSON text as 8 lowercase hex characters, a space, the JSON text, a newline. */
const LINE = /^([0-9a-f]{8}) (\{.*\})$/;
const NEWLINE = 0x0a;

export function formatLine(record: JournalRecord): string {
  const json = JSON.stringify({ migrationId: record.migrationId, outcome: record.outcome, at: record.at });
  return `${crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0')} ${json}\n`;
}

/**
 * The records of a journal file and how many of its bytes hold them. Bytes after the last newline, or a last
 * line that does not read, are a torn record: not counted. Any earlier line that does not read is corruption.
 * @throws JournalError
 */
export function parse(bytes: Buffer, path: string): { records: JournalRecord[]; goodBytes: number } {
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
    // `discarded` follows `committed`, or stands alone in a compacted journal (which keeps an id's last record).
    if (earlier && !(earlier.outcome === 'committed' && record.outcome === 'discarded')) {
      throw new JournalError(`the commit journal ${path} is corrupt: line ${i + 1} records ${record.migrationId} ${record.outcome}, recorded ${earlier.outcome} before`);
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

/**
 * The records a compacted journal keeps: every `committed` and `discarded` one (what a restarted destination
 * must answer `unknown` or `discarded` for), and the newest `maxAborted` of the `aborted` ones, in their order.
 * An older `aborted` record may go: a query for an id with no record is answered `aborted` just the same, and no
 * migration survives the restart that could still commit it (PROTOCOL.md, "The commit journal").
 */
export function compacted(records: JournalRecord[], maxAborted: number): JournalRecord[] {
  let abortedToDrop = records.filter((record) => record.outcome === 'aborted').length - maxAborted;
  if (abortedToDrop <= 0) return records;
  return records.filter((record) => record.outcome !== 'aborted' || abortedToDrop-- <= 0);
}

/**
 * Replaces the journal file at `path` with `records`, atomically: a temporary file next to it is written and
 * fsynced, renamed over it, and the directory fsynced, so that a crash leaves either the old file or the new.
 * @throws the file system's error
 */
export async function rewriteJournal(path: string, records: JournalRecord[]): Promise<void> {
  const temporary = `${path}.compacting`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(records.map(formatLine).join(''), 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const dir = await open(dirname(path), 'r');
  await dir.sync().finally(() => dir.close());
}
