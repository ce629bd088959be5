import type { EventLog, Position } from '../shared/log/types.js';

/**
 * Where reading the log must start for the dedupe rule to judge every record from S on, per
 * partition: the first record appended within the window and the skew allowance before the
 * last record below S. A record after S that an earlier one can make a duplicate was appended
 * at most the window after it, and append times go back by at most the skew (the dedupe
 * state's eviction assumes the same), so nothing older can matter. `{}` (offset 0) with a
 * window of forever. The speed layer warms from here; log retention deletes nothing at or
 * after it (lambda/retention.ts).
 */
export async function warmStart(log: EventLog, snapshot: Position, windowMs: number, skewMs: number): Promise<Position> {
  if (!Number.isFinite(windowMs)) return {};
  const last: Record<number, number> = {};
  const before = Object.fromEntries(Object.entries(snapshot).map(([p, o]) => [p, Math.max(0, o - 1)]));
  for await (const batch of log.read({ from: before, until: snapshot })) {
    for (const r of batch) last[r.partition] = Math.max(last[r.partition] ?? -Infinity, r.appendTime);
  }
  const since = Object.fromEntries(Object.entries(last).map(([p, t]) => [p, t - windowMs - skewMs]));
  const from = await log.offsetsAt(since);
  // A partition with nothing below S starts at S.
  for (const [p, o] of Object.entries(snapshot)) if (from[Number(p)] === undefined) from[Number(p)] = o;
  return from;
}
