/**
 * The ground-truth test's side of the comparison: the log read back as the reference's
 * records (partition, offset and append time from the log itself, the event decoded from
 * the record), the queries asked of each view, and their URLs.
 */
import { decodeEvent } from '../../shared/events/index.js';
import { expect } from 'vitest';
import type { EventLog, Position } from '../../shared/log/types.js';
import type { RefQuery, RefRecord, RefRow, RefView } from './reference.js';

const GRANULARITIES = ['minute', 'hour', 'day'] as const;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** Reads the log on from where the last call stopped up to `until`, appending to `records`. */
export class LogMirror {
  readonly records: RefRecord[] = [];
  #next: Position = {};

  async readTo(log: EventLog, until: Position): Promise<RefRecord[]> {
    const pending = Object.entries(until).some(([p, end]) => (this.#next[Number(p)] ?? 0) < end);
    if (pending) {
      for await (const batch of log.read({ from: { ...this.#next }, until })) {
        for (const r of batch) {
          this.records.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) });
          this.#next[r.partition] = r.offset + 1;
        }
      }
    }
    for (const [p, end] of Object.entries(until)) {
      if ((this.#next[Number(p)] ?? 0) < end) throw new Error(`log read stopped at ${JSON.stringify(this.#next)}, short of ${JSON.stringify(until)}`);
    }
    return this.records;
  }
}

/**
 * The queries asked of a view. `full`: its granularity and every coarser one, each with
 * all dimensions, none and each one alone; a reordered subset; where filters alone,
 * rolled up and combined; from/to ranges that cut buckets at several granularities.
 * `light`: the view as declared, and everything rolled into days.
 */
export function queriesFor(view: RefView, T0: number, filters: Record<string, string[]>, depth: 'full' | 'light' = 'full'): RefQuery[] {
  const dims = view.dimensions ?? [];
  if (depth === 'light') return view.granularity === 'none' ? [{}, { granularity: 'all', groupBy: [] }] : [{}, { granularity: 'day', groupBy: [] }];
  const out: RefQuery[] = [];
  for (const granularity of view.granularity === 'none' ? (['none'] as const) : GRANULARITIES.slice(GRANULARITIES.indexOf(view.granularity))) {
    out.push({ granularity });
    if (dims.length > 0) out.push({ granularity, groupBy: [] });
    if (dims.length > 1) for (const d of dims) out.push({ granularity, groupBy: [d] });
  }
  if (dims.length > 2) out.push({ groupBy: [dims[2]!, dims[0]!] });
  const filtered = Object.entries(filters);
  for (const [dim, values] of filtered) {
    out.push({ where: { [dim]: values } });
    out.push({ granularity: 'day', groupBy: [dim], where: { [dim]: values } });
  }
  if (filtered.length > 1) out.push({ groupBy: [], where: Object.fromEntries(filtered.slice(0, 2)) });
  out.push({ from: T0 - 10 * MINUTE, to: T0 + 25 * MINUTE });
  out.push({ granularity: 'day', groupBy: [], from: T0 - 3 * DAY + 7 * MINUTE, to: T0 + 30 * MINUTE });
  if (filtered.length > 0) {
    const [dim, values] = filtered[0]!;
    out.push({ granularity: view.granularity === 'day' ? 'day' : 'hour', from: T0 - 2 * DAY, to: T0, where: { [dim]: values } });
  }
  const all = [...out, ...orderedQueries(view, T0, filters)];
  // A view without time buckets takes no range and no bucketed granularity.
  if (view.granularity === 'none') return all.filter((q) => q.from === undefined && q.to === undefined && (q.granularity === undefined || q.granularity === 'none' || q.granularity === 'all'));
  return all;
}

interface TopkAnswer {
  readonly top: ReadonlyArray<{ value: string; count: number }>;
  readonly n: number;
  readonly error: number;
}

/**
 * The steps after the merge (contract §10): top-N by a count with its ties, pages of it,
 * `having`, `where_not`, `granularity=all`, and orders by min, max, a dimension and bucket.
 * Ordered by what the reference computes exactly as braid does (counts, min, max, names).
 */
function orderedQueries(view: RefView, T0: number, filters: Record<string, string[]>): RefQuery[] {
  const dims = view.dimensions ?? [];
  const kind = (spec: unknown) => (spec === 'count' ? 'count' : Object.keys(spec as object).find((k) => !['q', 'max', 'k', 'capacity'].includes(k))!);
  const measure = (k: string) => Object.entries(view.measures).find(([, spec]) => kind(spec) === k)?.[0];
  const count = measure('count')!;
  const extreme = measure('max') ?? measure('min');
  const out: RefQuery[] = [
    { granularity: 'all', groupBy: dims.slice(0, 1), orderBy: [{ key: count, desc: true }], limit: 5 },
    { granularity: 'all', groupBy: dims.slice(0, 1), orderBy: [{ key: count, desc: true }], offset: 2, limit: 3 },
    { orderBy: [{ key: count, desc: true }], limit: 10 },
    { orderBy: [{ key: count, desc: true }], offset: 10, limit: 10 },
    { granularity: 'all', groupBy: [] },
    { granularity: 'all', groupBy: dims, from: T0 - 30 * MINUTE, to: T0 + 30 * MINUTE, orderBy: [{ key: count }] },
    { having: [{ measure: count, op: 'gt', value: 1 }] },
    { granularity: 'day', groupBy: dims.slice(0, 1), having: [{ measure: count, op: 'gte', value: 3 }, { measure: count, op: 'ne', value: 4 }], orderBy: [{ key: count, desc: true }] },
    { orderBy: [{ key: 'bucket', desc: true }], limit: 7 },
  ];
  if (extreme) {
    out.push({ orderBy: [{ key: extreme, desc: true }], limit: 25 }, { orderBy: [{ key: extreme }], offset: 5, limit: 25 });
    out.push({ granularity: 'day', groupBy: dims.slice(0, 1), having: [{ measure: extreme, op: 'lt', value: 100 }] });
  }
  if (dims.length > 0) {
    out.push({ granularity: 'all', groupBy: [dims[0]!], orderBy: [{ key: dims[0]!, desc: true }] });
  }
  for (const [dim, values] of Object.entries(filters).slice(0, 1)) {
    out.push({ whereNot: { [dim]: values } });
    out.push({ granularity: 'all', groupBy: [dim], whereNot: { [dim]: values.slice(0, 1) }, orderBy: [{ key: count, desc: true }, { key: dim }], limit: 4 });
  }
  return out;
}

/** The query's URL; values are percent-encoded, commas separate them. */
export function queryUrl(view: string, q: RefQuery, source: 'batch' | 'lambda' | 'speed'): string {
  const parts = [`source=${source}`, `limit=${q.limit ?? 100_000}`];
  if (q.granularity) parts.push(`granularity=${q.granularity}`);
  if (q.groupBy) parts.push(`group_by=${q.groupBy.map(encodeURIComponent).join(',')}`);
  // Each value its own parameter: a value may hold a comma.
  for (const [dim, values] of Object.entries(q.where ?? {})) for (const v of values) parts.push(`where.${dim}=${encodeURIComponent(v!)}`);
  for (const [dim, values] of Object.entries(q.whereNot ?? {})) for (const v of values) parts.push(`where_not.${dim}=${encodeURIComponent(v!)}`);
  for (const h of q.having ?? []) parts.push(`having.${h.measure}=${h.op}:${h.value}`);
  if (q.orderBy) parts.push(`order_by=${q.orderBy.map((o) => `${o.desc ? '-' : ''}${encodeURIComponent(o.key)}`).join(',')}`);
  if (q.offset !== undefined) parts.push(`offset=${q.offset}`);
  if (q.from !== undefined) parts.push(`from=${new Date(q.from).toISOString()}`);
  if (q.to !== undefined) parts.push(`to=${new Date(q.to).toISOString()}`);
  return `/v1/views/${view}?${parts.join('&')}`;
}

/** What the log holds that the test means to exercise, counted the plain way from the records. */
export interface LogCases {
  readonly records: number;
  /** records dropped as duplicates (an earlier same-id record of the partition within the window) */
  readonly duplicates: number;
  /** records counted although their id appeared earlier in the partition (all earlier ones older than the window) */
  readonly recountedAfterWindow: number;
  /** ids found in more than one partition */
  readonly idsInSeveralPartitions: number;
  /** records whose event time is more than an hour before T0 */
  readonly late: number;
}

export function logCases(records: readonly RefRecord[], survivors: readonly RefRecord[], T0: number): LogCases {
  const alive = new Set(survivors.map((r) => `${r.partition}/${r.offset}`));
  const seen = new Map<string, Set<number>>();
  let recounted = 0;
  for (const r of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const partitions = seen.get(r.event.id) ?? new Set<number>();
    if (partitions.has(r.partition) && alive.has(`${r.partition}/${r.offset}`)) recounted++;
    partitions.add(r.partition);
    seen.set(r.event.id, partitions);
  }
  return {
    records: records.length,
    duplicates: records.length - survivors.length,
    recountedAfterWindow: recounted,
    idsInSeveralPartitions: [...seen.values()].filter((s) => s.size > 1).length,
    late: records.filter((r) => r.event.time < T0 - 3_600_000).length,
  };
}

const HLL_REGISTERS = 16_384; // p = 14 (contract §4)

function measureKind(spec: unknown): string {
  return spec === 'count' ? 'count' : Object.keys(spec as object).find((k) => !['q', 'max', 'k', 'capacity'].includes(k))!;
}

/** The view with its distinct measures left out, for `expectRowsMatch`; `expectDistinctMatch` checks those. */
export function withoutDistinct(view: RefView): RefView {
  return { ...view, measures: Object.fromEntries(Object.entries(view.measures).filter(([, spec]) => measureKind(spec) !== 'distinct')) };
}

/**
 * Distinct counts against the exact count. Below a few thousand values HyperLogLog is
 * linear counting, which loses one per pair of values sharing a register: a Poisson
 * number with mean n²/2m (m = 16 384), so 2 % of n is not enough for small sets (two
 * collisions among 70 values is a 1 % event). Allowed: 2 + 5·n/√(2m) ≈ 2 + 0.028·n — five
 * of that Poisson's standard deviations — which also exceeds three standard errors
 * (3 · 0.81 %) of HyperLogLog proper at large n.
 */
export function distinctTolerance(exact: number): number {
  return 2 + (5 * exact) / Math.sqrt(2 * HLL_REGISTERS);
}

export function expectDistinctMatch(
  view: RefView,
  actual: ReadonlyArray<Record<string, unknown>>,
  expected: readonly RefRow[],
  groupBy: readonly string[],
  context: string,
): void {
  const distinct = Object.entries(view.measures).filter(([, spec]) => measureKind(spec) === 'distinct').map(([name]) => name);
  if (distinct.length === 0) return;
  const keyOf = (bucket: unknown, dims: Record<string, unknown>) => JSON.stringify([bucket, dims]);
  const byKey = new Map(expected.map((r) => [keyOf(r.bucket, r.dims), r]));
  for (const row of actual) {
    const key = keyOf(row.bucket, Object.fromEntries(groupBy.map((d) => [d, row[d]])));
    const ref = byKey.get(key);
    expect(ref, `${context}: group ${key}`).toBeDefined();
    for (const name of distinct) {
      const exact = new Set((ref!.values[name] ?? []) as string[]).size;
      const got = row[name] as number;
      expect(Math.abs(got - exact), `${context}: ${view.name} ${key} ${name}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(distinctTolerance(exact));
    }
  }
}

/**
 * Two engines' answers over the same records: the same rows in the same order, every
 * measure identical (HLL registers and sketch buckets are identical across engines,
 * contract §4) except sums and averages, whose float additions may run in another
 * order (relative 1e-9).
 */
export function expectSameAnswer(
  view: RefView,
  actual: ReadonlyArray<Record<string, unknown>>,
  expected: ReadonlyArray<Record<string, unknown>>,
  context: string,
): void {
  expect(actual.length, `${context}: rows`).toBe(expected.length);
  const loose = new Set(Object.entries(view.measures).filter(([, s]) => ['sum', 'avg'].includes(measureKind(s))).map(([n]) => n));
  const topks = new Set(Object.entries(view.measures).filter(([, s]) => measureKind(s) === 'topk').map(([n]) => n));
  actual.forEach((row, i) => {
    const other = expected[i]!;
    expect(Object.keys(row).sort(), `${context}: row ${i} columns`).toEqual(Object.keys(other).sort());
    for (const [name, value] of Object.entries(row)) {
      const want = other[name];
      const where = `${context}: row ${i} (${JSON.stringify(other)}) ${name}`;
      if (loose.has(name) && typeof value === 'number' && typeof want === 'number') {
        expect(Math.abs(value - want), `${where}: ${value} vs ${want}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
      } else if (topks.has(name)) {
        // Two engines' summaries agree within their bounds, not bit for bit (contract §4).
        const [a, b] = [value as TopkAnswer, want as TopkAnswer];
        expect(a.n, `${where}: n`).toBe(b.n);
        for (const { value: v, count } of a.top) {
          const other = b.top.find((t) => t.value === v)?.count;
          if (other !== undefined) expect(Math.abs(count - other), `${where}: ${v}`).toBeLessThanOrEqual(a.error + b.error + 1e-9);
        }
      } else {
        expect(value, where).toEqual(want);
      }
    }
  });
}
