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
  readonly granularity: 'minute' | 'hour' | 'day';
  readonly dimensions?: readonly string[];
  readonly measures: Readonly<Record<string, unknown>>;
}

export interface RefQuery {
  readonly granularity?: 'minute' | 'hour' | 'day';
  readonly groupBy?: readonly string[];
  readonly where?: Readonly<Record<string, readonly string[]>>;
  readonly from?: number;
  readonly to?: number;
}

const SIZE = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

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
  bucket: string;
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
  for (const { event } of records) {
    if (!view.events.includes(event.type)) continue;
    const whereOk = Object.entries(view.where ?? {}).every(([p, vs]) => {
      const v = asString(read(event, p));
      return v !== null && vs.map(asString).includes(v);
    });
    if (!whereOk) continue;
    const fine = Math.floor(event.time / SIZE[view.granularity]) * SIZE[view.granularity];
    if (q.from !== undefined && fine < q.from) continue;
    if (q.to !== undefined && fine >= q.to) continue;
    const queryWhereOk = Object.entries(q.where ?? {}).every(([p, vs]) => {
      const v = asString(read(event, p));
      return v !== null && vs.includes(v);
    });
    if (!queryWhereOk) continue;
    const bucket = new Date(Math.floor(event.time / SIZE[granularity]) * SIZE[granularity]).toISOString();
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
      const [kind, path] = Object.entries(spec as Record<string, string>).find(([k]) => k !== 'q')!;
      const v = read(event, path);
      const list = (row.values[name] ??= []);
      if (kind === 'distinct') {
        const s = asString(v);
        if (s !== null) list.push(s);
      } else if (typeof v === 'number') list.push(v);
    }
  }
  return [...groups.values()];
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
      const [kind] = Object.keys(spec as object).filter((k) => k !== 'q');
      const values = ref.values[name] ?? [];
      const nums = values as number[];
      switch (kind) {
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
