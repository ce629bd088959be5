/**
 * Positions in the log: `partition → next offset` (Kafka's meaning of "offset": the offset
 * of the next record). A partition a position does not name is at offset 0. Every stored
 * result names the position it reflects, and every layer compares positions through these.
 */
export type Position = Record<number, number>;

/** Offset 0 on each of `partitions` partitions: the log's start. */
export function zeroPosition(partitions: number): Position {
  const p: Position = {};
  for (let i = 0; i < partitions; i++) p[i] = 0;
  return p;
}

/** Whether `a` has reached `b` on every partition `b` names (a missing one is at 0). */
export function covers(a: Position, b: Position): boolean {
  for (const [p, offset] of Object.entries(b)) if ((a[Number(p)] ?? 0) < offset) return false;
  return true;
}

/** Whether `a` and `b` are the same position (a missing partition is at 0). */
export function samePosition(a: Position, b: Position): boolean {
  return covers(a, b) && covers(b, a);
}

/** Partition by partition, the further of the two. */
export function maxPosition(a: Position, b: Position): Position {
  const out: Position = { ...a };
  for (const [k, v] of Object.entries(b)) out[Number(k)] = Math.max(out[Number(k)] ?? 0, v);
  return out;
}

/** Records below the position, over all partitions. */
export function totalOffsets(p: Position): number {
  let n = 0;
  for (const v of Object.values(p)) n += v;
  return n;
}

/** Per partition of `end`, how many records `at` has not reached yet. */
export function lagBehind(end: Position, at: Position): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [k, v] of Object.entries(end)) out[Number(k)] = Math.max(0, v - (at[Number(k)] ?? 0));
  return out;
}

/** A text naming the position, equal for equal positions (zeros dropped): a map key. */
export function positionKey(p: Position): string {
  return Object.entries(p)
    .filter(([, v]) => v !== 0)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((x, y) => x[0] - y[0])
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
}
