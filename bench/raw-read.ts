import type { EventLog } from '../shared/log/types.js';

/** Reads a log to its end doing nothing with the records: the ceiling for any consumer of it. */
export async function rawRead(log: EventLog): Promise<{ records: number; megabytes: number; seconds: number; perSecond: number }> {
  const until = await log.endPosition();
  const started = performance.now();
  let records = 0;
  let bytes = 0;
  for await (const batch of log.read({ until, maxBatch: 5_000 })) {
    records += batch.length;
    for (const r of batch) bytes += r.value.length;
  }
  const seconds = (performance.now() - started) / 1000;
  return { records, megabytes: Math.round((bytes / 2 ** 20) * 100) / 100, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(records / seconds) };
}
