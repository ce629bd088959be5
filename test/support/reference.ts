/**
 * An independent reference for view answers, written the plain way — no measures, no
 * ViewTable, no SQL: dedupe by scanning, group with a Map, compute exact results. Tests
 * compare braid's answers (any source) with it. Distinct counts and quantiles are exact
 * here; `expectRowsMatch` allows the sketches' documented error (contract §4).
 */
import { expect } from 'vitest';

export interface RefRecord {
  readonly partition: number;
  readonly offset: number;
  readonly appendTime: number;
  readonly event: { id: string; type: string; time: number; key?: string; data?: Record<string, unknown> };
}

export interface RefView {
  readonly name: string;
  readonly events: readonly string[];
  readonly where?: Readonly<Record<string, readonly (string | number | boolean)[]>>;
  readonly granularity: 'minute' | 'hour' | 'day' | 'none';
  readonly dimensions?: readonly string[];
  readonly measures: Readonly<Record<string, unknown>>;
}

export interface RefQuery {
  readonly granularity?: 'minute' | 'hour' | 'day' | 'none' | 'all';
  readonly groupBy?: readonly string[];
  /** the dimension equals one of these (null: it is missing) */
  readonly where?: Readonly<Record<string, ReadonlyArray<string | null>>>;
  /** the dimension equals none of these (null: it is not missing) */
  readonly whereNot?: Readonly<Record<string, ReadonlyArray<string | null>>>;
  readonly from?: number;
  readonly to?: number;
  /** the steps after the merge (contract §10) */
  readonly having?: ReadonlyArray<{ readonly measure: string; readonly op: 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'ne'; readonly value: number }>;
  readonly orderBy?: ReadonlyArray<{ readonly key: string; readonly desc?: boolean }>;
  readonly offset?: number;
  readonly limit?: number;
}

const SIZE = { minute: 60_000, hour: 3_600_000, day: 86_400_000, none: 0 } as const;

/** The kinds a spec may name (beside options such as q, max, k, capacity). */
const KINDS = ['sum', 'avg', 'min', 'max', 'distinct', 'quantile', 'latest', 'first', 'values', 'topk'];
const kindOfSpec = (spec: unknown): string => (spec === 'count' ? 'count' : Object.keys(spec as object).find((k) => KINDS.includes(k))!);

/** UTF-8 byte order, DuckDB's and braid's for values and top-k ties. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** A value of a latest/first measure with its record's place. */
interface Placed {
  readonly v: string;
  readonly place: readonly [number, number, number];
}
const comparePlace = (a: Placed, b: Placed) => a.place[0] - b.place[0] || a.place[1] - b.place[1] || a.place[2] - b.place[2];

/** Records below `position` that are not duplicates (contract §3), in offset order per partition. */
export function survivors(records: readonly RefRecord[], position: Record<number, number>, windowMs: number): RefRecord[] {
  const below = records.filter((r) => r.offset < (position[r.partition] ?? 0));
  const byPartition = new Map<number, RefRecord[]>();
  for (const r of below) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
  const out: RefRecord[] = [];
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.offset - b.offset);
    list.forEach((r, i) => {
      const earlier = list.slice(0, i).filter((e) => e.event.id === r.event.id);
      const duplicate = earlier.some((e) => r.appendTime - e.appendTime <= windowMs);
      if (!duplicate) out.push(r);
    });
  }
  return out;
}

function read(event: RefRecord['event'], path: string): unknown {
  if (path === 'id') return event.id;
  if (path === 'type') return event.type;
  if (path === 'key') return event.key ?? event.id;
  let node: unknown = event.data;
  for (const part of path.split('.').slice(1)) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = Object.prototype.hasOwnProperty.call(node, part) ? (node as Record<string, unknown>)[part] : undefined;
  }
  return node;
}

function asString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return null;
}

export interface RefRow {
  /** null in a view of granularity none */
  bucket: string | null;
  dims: Record<string, string | null>;
  values: Record<string, unknown[]>;
  count: number;
}

/** Groups the surviving records of a view the way the query asks. */
export function referenceRows(view: RefView, records: readonly RefRecord[], q: RefQuery = {}): RefRow[] {
  const dims = view.dimensions ?? [];
  const groupBy = q.groupBy ?? dims;
  const granularity = q.granularity ?? view.granularity;
  const groups = new Map<string, RefRow>();
  let first = Infinity;
  for (const { event, partition, offset } of records) {
    if (!view.events.includes(event.type)) continue;
    const whereOk = Object.entries(view.where ?? {}).every(([p, vs]) => {
      const v = asString(read(event, p));
      return v !== null && vs.map(asString).includes(v);
    });
    if (!whereOk) continue;
    const none = view.granularity === 'none';
    const fine = none ? 0 : Math.floor(event.time / SIZE[view.granularity]) * SIZE[view.granularity];
    if (q.from !== undefined && fine < q.from) continue;
    if (q.to !== undefined && fine >= q.to) continue;
    const queryWhereOk = Object.entries(q.where ?? {}).every(([p, vs]) => vs.includes(asString(read(event, p))));
    if (!queryWhereOk) continue;
    const whereNotOk = Object.entries(q.whereNot ?? {}).every(([p, vs]) => !vs.includes(asString(read(event, p))));
    if (!whereNotOk) continue;
    first = Math.min(first, fine);
    // granularity all: one bucket, named after the range's start (fixed below when there is none).
    const bucket = none ? null : granularity === 'all' ? 'all' : new Date(Math.floor(event.time / SIZE[granularity]) * SIZE[granularity]).toISOString();
    const dimValues = Object.fromEntries(groupBy.map((d) => [d, asString(read(event, d))]));
    const key = JSON.stringify([bucket, dimValues]);
    let row = groups.get(key);
    if (!row) {
      row = { bucket, dims: dimValues, values: {}, count: 0 };
      groups.set(key, row);
    }
    row.count++;
    for (const [name, spec] of Object.entries(view.measures)) {
      if (spec === 'count') continue;
      const kind = kindOfSpec(spec);
      const path = (spec as Record<string, string>)[kind]!;
      const v = read(event, path);
      const list = (row.values[name] ??= []);
      if (kind === 'distinct' || kind === 'values' || kind === 'topk') {
        const s = asString(v);
        if (s !== null) list.push(s);
      } else if (kind === 'latest' || kind === 'first') {
        const s = asString(v);
        if (s !== null) list.push({ v: s, place: [event.time, partition, offset] } satisfies Placed);
      } else if (typeof v === 'number') list.push(v);
    }
  }
  const rows = [...groups.values()];
  if (granularity === 'all' && view.granularity !== 'none') for (const row of rows) row.bucket = new Date(q.from ?? first).toISOString();
  return rows;
}

/** A measure's exact result in a reference row (quantiles by `name.q`; distinct counts exact). */
function exactResult(view: RefView, row: RefRow, key: string): number | null {
  const dot = key.indexOf('.');
  const name = dot < 0 ? key : key.slice(0, dot);
  const spec = view.measures[name];
  if (spec === 'count') return row.count;
  const kind = kindOfSpec(spec);
  const values = row.values[name] ?? [];
  const nums = values as number[];
  if (kind === 'distinct') return new Set(values as string[]).size;
  if (nums.length === 0) return null;
  switch (kind) {
    case 'sum':
      return nums.reduce((a, b) => a + b, 0);
    case 'avg':
      return nums.reduce((a, b) => a + b, 0) / nums.length;
    case 'min':
      return Math.min(...nums);
    case 'max':
      return Math.max(...nums);
    case 'quantile': {
      const sorted = [...nums].sort((a, b) => a - b);
      return sorted[Math.floor(Number(key.slice(dot + 1)) * (sorted.length - 1))]!;
    }
  }
  throw new Error(`reference: unknown measure ${kind}`);
}

const OPS = { gt: (a: number, b: number) => a > b, gte: (a: number, b: number) => a >= b, lt: (a: number, b: number) => a < b, lte: (a: number, b: number) => a <= b, eq: (a: number, b: number) => a === b, ne: (a: number, b: number) => a !== b };

/** Nulls last in either direction; otherwise ascending, or descending when `desc`. */
function compareRef(a: string | number | null, b: string | number | null, desc: boolean): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const c = a < b ? -1 : 1;
  return desc ? -c : c;
}

/**
 * The whole answer, the plain way: the groups of `referenceRows`, then `having` on exact
 * results (a null result never passes), the order (ties by bucket, then the dimensions in
 * group-by order, ascending; nulls last), and the page. Exact results order exactly as
 * braid's only for count, min, max, dimensions and bucket: tests order by those.
 */
export function referenceAnswer(view: RefView, records: readonly RefRecord[], q: RefQuery = {}): { rows: RefRow[]; groups: number } {
  const groupBy = q.groupBy ?? view.dimensions ?? [];
  const rows = referenceRows(view, records, q).filter((row) =>
    (q.having ?? []).every((h) => {
      const v = exactResult(view, row, h.measure);
      return v !== null && OPS[h.op](v, h.value);
    }),
  );
  const valueOf = (row: RefRow, key: string): string | number | null => (key === 'bucket' ? row.bucket : groupBy.includes(key) ? row.dims[key]! : exactResult(view, row, key));
  rows.sort((a, b) => {
    for (const o of q.orderBy ?? []) {
      const c = compareRef(valueOf(a, o.key), valueOf(b, o.key), o.desc === true);
      if (c !== 0) return c;
    }
    const c = compareRef(a.bucket, b.bucket, false);
    if (c !== 0) return c;
    for (const d of groupBy) {
      const x = compareRef(a.dims[d]!, b.dims[d]!, false);
      if (x !== 0) return x;
    }
    return 0;
  });
  const offset = q.offset ?? 0;
  return { rows: rows.slice(offset, offset + (q.limit ?? 10_000)), groups: rows.length };
}

/** Whether a query orders or cuts its answer (then its rows are compared in order). */
export function isOrdered(q: RefQuery): boolean {
  return q.orderBy !== undefined || q.offset !== undefined || q.limit !== undefined || q.having !== undefined;
}

/** braid's rows are the reference's page, in its order. */
export function expectSameOrder(actual: ReadonlyArray<Record<string, unknown>>, expected: readonly RefRow[], groupBy: readonly string[], context: string): void {
  const got = actual.map((r) => JSON.stringify([r.bucket, Object.fromEntries(groupBy.map((d) => [d, r[d]]))]));
  const want = expected.map((r) => JSON.stringify([r.bucket, r.dims]));
  expect(got, `${context}: the rows in order`).toEqual(want);
}

/**
 * Asserts that braid's answer rows equal the reference: the same groups, counts, mins and
 * maxes exactly, sums and averages to 1e-9 relative, distinct counts within HLL's error
 * (2 %, or 1 for tiny sets), quantiles within the sketch's 1 % of the exact value at rank
 * floor(q·(n−1)).
 */
export function expectRowsMatch(
  view: RefView,
  actual: ReadonlyArray<Record<string, unknown>>,
  expected: readonly RefRow[],
  groupBy: readonly string[] = view.dimensions ?? [],
  context = '',
): void {
  const keyOf = (bucket: unknown, dims: Record<string, unknown>) => JSON.stringify([bucket, dims]);
  const expectedByKey = new Map(expected.map((r) => [keyOf(r.bucket, r.dims), r]));
  const actualKeys = actual.map((row) => keyOf(row.bucket, Object.fromEntries(groupBy.map((d) => [d, row[d]]))));
  expect(actual.length, `${context}: rows`).toBe(expected.length);
  expect(new Set(actualKeys), `${context}: groups`).toEqual(new Set(expectedByKey.keys()));
  actual.forEach((row, i) => {
    const ref = expectedByKey.get(actualKeys[i]!)!;
    const where = `${context}: ${view.name} ${actualKeys[i]}`;
    for (const [name, spec] of Object.entries(view.measures)) {
      const got = row[name];
      if (spec === 'count') {
        expect(got, `${where} ${name}`).toBe(ref.count);
        continue;
      }
      const kind = kindOfSpec(spec);
      const values = ref.values[name] ?? [];
      const nums = values as number[];
      switch (kind) {
        case 'latest':
        case 'first': {
          const placed = [...(values as Placed[])].sort(comparePlace);
          const want = placed.length === 0 ? null : (kind === 'latest' ? placed.at(-1)! : placed[0]!).v;
          expect(got, `${where} ${name}`).toBe(want);
          break;
        }
        case 'values': {
          const max = (spec as { max?: number }).max ?? 100;
          const all = [...new Set(values as string[])].sort(byBytes);
          expect(got, `${where} ${name}`).toEqual({ values: all.slice(0, max), truncated: all.length > max });
          break;
        }
        case 'topk': {
          const k = (spec as { k: number }).k;
          const exact = new Map<string, number>();
          for (const v of values as string[]) exact.set(v, (exact.get(v) ?? 0) + 1);
          const answer = got as { top: Array<{ value: string; count: number }>; n: number; error: number };
          expect(answer.n, `${where} ${name}: n`).toBe((values as string[]).length);
          expect(answer.top.length, `${where} ${name}: at most k`).toBeLessThanOrEqual(k);
          for (const { value, count } of answer.top) {
            const c = exact.get(value) ?? 0;
            expect(count, `${where} ${name} ${value}: ${count} vs exact ${c}, bound ${answer.error}`).toBeLessThanOrEqual(c);
            expect(c - count, `${where} ${name} ${value}: ${count} vs exact ${c}, bound ${answer.error}`).toBeLessThanOrEqual(answer.error + 1e-9);
          }
          if (answer.error === 0) {
            const top = [...exact].sort(([a, x], [b, y]) => y - x || byBytes(a, b)).slice(0, k).map(([value, count]) => ({ value, count }));
            expect(answer.top, `${where} ${name}: exact while the values fit the counters`).toEqual(top);
          }
          break;
        }
        case 'sum':
          if (nums.length === 0) expect(got, `${where} ${name}`).toBeNull();
          else expectClose(got as number, nums.reduce((a, b) => a + b, 0), `${where} ${name}`);
          break;
        case 'avg':
          if (nums.length === 0) expect(got, `${where} ${name}`).toBeNull();
          else expectClose(got as number, nums.reduce((a, b) => a + b, 0) / nums.length, `${where} ${name}`);
          break;
        case 'min':
          expect(got, `${where} ${name}`).toBe(nums.length === 0 ? null : Math.min(...nums));
          break;
        case 'max':
          expect(got, `${where} ${name}`).toBe(nums.length === 0 ? null : Math.max(...nums));
          break;
        case 'distinct': {
          const exact = new Set(values as string[]).size;
          // Small sets lose one per register collision (Poisson, mean n²/2m): five standard deviations.
          expect(Math.abs((got as number) - exact), `${where} ${name}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(2 + (5 * exact) / Math.sqrt(2 * 16_384));
          break;
        }
        case 'quantile': {
          if (nums.length === 0) {
            expect(got, `${where} ${name}`).toBeNull();
            break;
          }
          const sorted = [...nums].sort((a, b) => a - b);
          for (const q of (spec as { q: number[] }).q) {
            const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
            const value = (got as Record<string, number>)[String(q)]!;
            const tolerance = Math.abs(exact) < 1e-9 ? 1e-9 : 0.01 * Math.abs(exact) * (1 + 1e-9);
            expect(Math.abs(value - exact), `${where} ${name} q=${q}: ${value} vs exact ${exact}`).toBeLessThanOrEqual(tolerance);
          }
          break;
        }
        default:
          throw new Error(`reference: unknown measure ${kind}`);
      }
    }
  });
}

function expectClose(got: number, want: number, message: string): void {
  expect(Math.abs(got - want), `${message}: ${got} vs ${want}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
}
