import { BraidError } from '../../shared/errors.js';
import { decodeEvent, type StoredEvent } from '../../shared/events/index.js';
import type { LogRecord } from '../../shared/log/types.js';

/** What an archive row is made from: a log record, its key aside (the row takes it from the stored event). */
export type ArchiveRecord = Pick<LogRecord, 'partition' | 'offset' | 'appendTime' | 'value'>;

/** One log record as an archive row (format.ts, ARCHIVE_COLUMNS). */
export interface ArchiveRow {
  readonly partition: number;
  readonly offset: number;
  readonly appendTime: number;
  readonly id: string;
  readonly type: string;
  readonly time: number;
  readonly key: string | null;
  /** The data object's JSON text as stored; checked to be a JSON object by the writer (in DuckDB). */
  readonly data: string | null;
}

/**
 * Decodes a record's stored event (shared/events). A record that is not one stops the
 * archive with `log_corrupt`: the archive holds every record of the log, so it cannot skip
 * one, and only something other than braid writes such records to the log.
 */
export function toArchiveRow(record: ArchiveRecord): ArchiveRow {
  return scanStoredForm(record) ?? parseStoredForm(record);
}

/**
 * The fast path, for the exact text `encodeEvent` writes: `{"id":…,"type":…,"time":…,
 * "key":…,"data":{…}}` with key and data optional and no escapes in the strings. `data` is
 * sliced, not parsed and serialised again: JSON.parse was most of the archiver's CPU time.
 * Anything else (escapes, another field order, whitespace) takes the JSON.parse path.
 */
function scanStoredForm(record: ArchiveRecord): ArchiveRow | undefined {
  const text = record.value.toString('utf8');
  if (!text.startsWith('{"id":"')) return undefined;
  const idEnd = plainStringEnd(text, 7);
  if (idEnd < 0 || !text.startsWith(',"type":"', idEnd + 1)) return undefined;
  const typeStart = idEnd + 10;
  const typeEnd = plainStringEnd(text, typeStart);
  if (typeEnd < 0 || !text.startsWith(',"time":', typeEnd + 1)) return undefined;
  INTEGER.lastIndex = typeEnd + 9;
  const digits = INTEGER.exec(text)?.[0];
  const time = Number(digits);
  if (digits === undefined || !Number.isSafeInteger(time)) return undefined;
  let at = INTEGER.lastIndex;
  let key: string | null = null;
  if (text.startsWith(',"key":"', at)) {
    const keyEnd = plainStringEnd(text, at + 8);
    if (keyEnd < 0) return undefined;
    key = text.slice(at + 8, keyEnd);
    at = keyEnd + 1;
  }
  let data: string | null = null;
  if (text.startsWith(',"data":{', at)) {
    if (!text.endsWith('}}')) return undefined;
    data = text.slice(at + 8, -1);
  } else if (at !== text.length - 1 || text[at] !== '}') {
    return undefined;
  }
  return {
    partition: record.partition,
    offset: record.offset,
    appendTime: record.appendTime,
    id: text.slice(7, idEnd),
    type: text.slice(typeStart, typeEnd),
    time,
    key,
    data,
  };
}

/** The index of the quote that ends a string starting at `start`, or -1 if it has escapes or no end. */
function plainStringEnd(text: string, start: number): number {
  const end = text.indexOf('"', start);
  return end < 0 || text.lastIndexOf('\\', end) >= start ? -1 : end;
}

const INTEGER = /-?(0|[1-9]\d*)(?=[,}])/y;

function parseStoredForm(record: ArchiveRecord): ArchiveRow {
  let event: Partial<StoredEvent> | null;
  try {
    event = decodeEvent(record.value);
  } catch (err) {
    throw notAnEvent(record, `it is not JSON (${(err as Error).message})`);
  }
  if (event === null || typeof event !== 'object') throw notAnEvent(record, 'it is not a JSON object');
  const { id, type, time, key, data } = event;
  if (typeof id !== 'string' || typeof type !== 'string') throw notAnEvent(record, 'it has no string id and type');
  if (!Number.isSafeInteger(time)) throw notAnEvent(record, 'its time is not epoch milliseconds');
  if (key !== undefined && typeof key !== 'string') throw notAnEvent(record, 'its key is not a string');
  if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    throw notAnEvent(record, 'its data is not an object');
  }
  return {
    partition: record.partition,
    offset: record.offset,
    appendTime: record.appendTime,
    id,
    type,
    time: time!,
    key: key ?? null,
    data: data === undefined ? null : JSON.stringify(data),
  };
}

export function notAnEvent(record: Pick<LogRecord, 'partition' | 'offset'>, problem: string): BraidError {
  return new BraidError(
    'log_corrupt',
    `archive: the record at offset ${record.offset} of partition ${record.partition} is not a braid event (${problem}); ` +
      'the archive keeps every record of the log and stops here: find what else writes to the log',
  );
}
