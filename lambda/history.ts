import { firstArchivedAt, readArchived, type Archiver } from '../batch/archive/index.js';
import type { EventLog, LogRecord, Position, ReadOptions } from '../shared/log/types.js';

/**
 * The log with the archive beneath it: reads from below the log's start (records deleted by
 * log.retention, or with a Kafka partition's prefix by an erasure) come from the archive, in
 * the same order and form (batch/archive/reader.ts), then from the log; `offsetsAt` looks in
 * the archive when the answer could lie below the start. Everything else is the log's. What
 * the speed layer warms from, so that its dedupe state is whole whatever the log deleted.
 */
export function withArchive(log: EventLog, archiver: Archiver): EventLog {
  async function* read(options: ReadOptions = {}): AsyncGenerator<LogRecord[]> {
    const start = await log.startPosition();
    const from = options.from ?? {};
    const archiveUntil: Position = {};
    for (const [p, s] of Object.entries(start)) {
      const partition = Number(p);
      const wanted = options.until ? (options.until[partition] ?? 0) : Infinity;
      if ((from[partition] ?? 0) < s && wanted > (from[partition] ?? 0)) archiveUntil[partition] = Math.min(s, wanted);
    }
    if (Object.keys(archiveUntil).length > 0) {
      const lease = archiver.lease();
      try {
        for await (const batch of readArchived(lease, from, archiveUntil, options.maxBatch)) {
          if (options.signal?.aborted) return;
          yield batch;
        }
      } finally {
        lease.release();
      }
    }
    const fromLog: Position = { ...from };
    for (const [p, s] of Object.entries(start)) fromLog[Number(p)] = Math.max(from[Number(p)] ?? 0, s);
    yield* log.read({ ...options, from: fromLog });
  }

  return {
    kind: log.kind,
    partitions: log.partitions,
    append: (records) => log.append(records),
    endPosition: () => log.endPosition(),
    startPosition: () => log.startPosition(),
    deleteBefore: (position) => log.deleteBefore(position),
    erase: (key, until) => log.erase(key, until),
    close: () => log.close(),
    read,
    async offsetsAt(times) {
      const out = await log.offsetsAt(times);
      const start = await log.startPosition();
      const below = Object.keys(times).map(Number).filter((p) => (start[p] ?? 0) > 0 && out[p] === start[p]);
      if (below.length === 0) return out;
      const lease = archiver.lease();
      try {
        for (const p of below) {
          const first = await firstArchivedAt(lease, p, times[p]!, start[p]!);
          if (first !== undefined) out[p] = first;
        }
      } finally {
        lease.release();
      }
      return out;
    },
  };
}
