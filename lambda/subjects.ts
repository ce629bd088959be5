import { readSubjectArchived, type Archiver } from '../batch/archive/index.js';
import { decodeEvent, isErased } from '../shared/events/index.js';
import type { EventLog, Position } from '../shared/log/types.js';
import { DedupeState } from '../speed/dedupe.js';

/** One stored event of a subject, as `GET /v1/subjects/{subject}/events` exports it. */
export interface SubjectEvent {
  readonly id: string;
  readonly type: string;
  readonly time: number;
  readonly key?: string;
  readonly data?: Record<string, unknown>;
  readonly partition: number;
  readonly offset: number;
  readonly appendTime: number;
  /** false when the dedupe rule made it a duplicate (it counts nowhere) */
  readonly counted: boolean;
}

export interface SubjectSources {
  readonly log: EventLog;
  /** the archive; absent (kappa mode, or no archive role here): the log alone is read from 0 */
  readonly archiver?: Archiver;
  readonly dedupeWindowMs: number;
  /** dedupe.skew (the speed layer's) */
  readonly dedupeSkewMs?: number;
}

/**
 * Every stored event of a subject (`key ?? id`, the record key, so one partition) in log
 * order: the archive's records, then the log's from the archive's end (and the log's from its
 * start when there is no archive). Each says whether it counted: the dedupe rule compares a
 * record with the earlier records of its partition that have its id, whatever their key, so
 * those are read too. Held in memory until written: as much as the subject's events.
 */
export async function subjectEvents(sources: SubjectSources, subject: string): Promise<SubjectEvent[]> {
  const { log, archiver } = sources;
  const lease = archiver?.lease();
  try {
    const archivedUpTo: Position = lease?.position ?? {};
    const end = await log.endPosition();
    // The log after the archive first: the subject's records there, and every record of the
    // tail (their ids are compared below; the tail is what the archive has not caught up with yet).
    const fromLog: Array<Omit<SubjectEvent, 'counted'>> = [];
    const tail: Array<{ partition: number; offset: number; appendTime: number; id: string }> = [];
    const from: Position = Object.fromEntries(Object.keys(end).map((p) => [p, archivedUpTo[Number(p)] ?? 0]));
    for await (const batch of log.read({ from, until: end })) {
      for (const r of batch) {
        const event = decodeEvent(r.value);
        tail.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, id: event.id });
        if (r.key === subject && !isErased(event)) fromLog.push({ ...event, partition: r.partition, offset: r.offset, appendTime: r.appendTime });
      }
    }
    // The archive: the subject's records, and the records sharing an id with any of the
    // subject's (the tail's ones included: an archived record of another key can make a
    // retry in the tail a duplicate).
    const archived = lease ? await readSubjectArchived(lease, subject, fromLog.map((e) => ({ partition: e.partition, id: e.id }))) : { records: [], sameIds: [] };
    const out: Array<Omit<SubjectEvent, 'counted'>> = archived.records.map((r) => ({
      id: r.id,
      type: r.type,
      time: r.time,
      ...(r.key === null ? {} : { key: r.key }),
      ...(r.data === null ? {} : { data: JSON.parse(r.data) as Record<string, unknown> }),
      partition: r.partition,
      offset: r.offset,
      appendTime: r.appendTime,
    }));
    out.push(...fromLog);
    const sameIds = [...archived.sameIds];
    const ids = new Set(out.map((e) => `${e.partition}\u0000${e.id}`));
    for (const t of tail) if (ids.has(`${t.partition}\u0000${t.id}`)) sameIds.push(t);
    const counted = countedOffsets(sameIds, sources.dedupeWindowMs, sources.dedupeSkewMs);
    out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    return out.map((e) => ({ ...e, counted: counted.has(`${e.partition}:${e.offset}`) }));
  } finally {
    lease?.release();
  }
}

/**
 * Which of `records` count: the speed layer's own dedupe state (speed/dedupe.ts) over them in
 * offset order per partition. The rule only compares records sharing (partition, id), and
 * these are all the records that share one with the subject's; answers `partition:offset`.
 */
function countedOffsets(records: ReadonlyArray<{ partition: number; offset: number; appendTime: number; id: string }>, windowMs: number, skewMs?: number): Set<string> {
  const dedupe = new DedupeState({ windowMs, ...(skewMs === undefined ? {} : { skewMs }) });
  const counted = new Set<string>();
  for (const r of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    if (!dedupe.check(r.partition, r.id, r.appendTime)) counted.add(`${r.partition}:${r.offset}`);
  }
  return counted;
}
