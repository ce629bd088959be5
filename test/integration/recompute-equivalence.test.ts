import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOUBLE, DuckDBInstance, LIST, VARCHAR, listValue, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETUP_SQL, computeViews, loadViewTable, sketchBounds, sketchTableStatement } from '../../batch/recompute/index.js';
import { compareText, hllHash, SKETCH_MIN_INDEXABLE, sketchIndex, type TopkState, type ValuesState } from '../../shared/measures/index.js';
import { compileView, dimensionValue, parseViews, type ColumnTable, type CompiledView } from '../../shared/views/index.js';
import type { Position } from '../../shared/log/types.js';
import { testArchive, writeTestArchive, type TestRecord } from '../support/recompute-archive.js';
import { tableDifferences } from '../support/recompute-compare.js';
import { TestEvents, valuesProfile } from '../support/events.js';
import { dedupeReference, equivalenceViews, foldReference } from '../support/recompute-events.js';

let dir: string;
let db: DuckDBInstance;
let sql: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'braid-recompute-eq-'));
  db = await DuckDBInstance.create(':memory:', { threads: '2' });
  sql = await db.connect();
  for (const s of SETUP_SQL) await sql.run(s);
  const sketch = sketchTableStatement();
  await sql.run(sketch.sql, sketch.values, sketch.types);
});

afterAll(async () => {
  sql?.closeSync();
  db?.closeSync();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `expr` (over column `v`) for every input, in input order. */
async function perValue(expr: string, inputs: readonly (string | number)[], type: DuckDBType = VARCHAR): Promise<unknown[]> {
  const reader = await sql.runAndReadAll(
    `SELECT ${expr} AS out FROM (SELECT unnest($v) AS v, generate_subscripts($v, 1) AS i), braid_sketch s ORDER BY i`,
    { v: listValue([...inputs]) },
    { v: LIST(type) },
  );
  return reader.getRowObjectsJS().map((r) => r.out);
}

/** The batch layer's states for `records`, computed and loaded back like a published version. */
async function batchTables(name: string, records: readonly TestRecord[], snapshot: Position, windowMs: number, views: readonly CompiledView[], perFile: number) {
  const base = path.join(dir, name);
  const files = await writeTestArchive(path.join(base, 'archive'), records, perFile);
  const archive = testArchive(path.join(base, 'archive'), () => files).lease();
  const outDir = path.join(base, 'out');
  const result = await computeViews({
    archive,
    snapshot,
    views,
    dedupeWindowMs: windowMs,
    outDir,
    duckdb: { memoryLimit: '512MB', threads: 2, tempDirectory: path.join(base, 'tmp') },
  });
  const tables = new Map<string, ColumnTable>();
  for (const view of views) tables.set(view.def.name, await loadViewTable(sql, path.join(outDir, result.views[view.def.name]!.file), view));
  await rm(base, { recursive: true, force: true });
  return { tables, result };
}

describe('string forms in SQL', () => {
  it('writes every number as JSON.stringify does', async () => {
    const maker = new TestEvents(7, { profile: valuesProfile });
    const values: number[] = [
      0, 1, -1, 19.99, 0.1, 0.2, 0.30000000000000004, 1e-7, 1.5e-7, 9.999999e-7, 1e-6, 1e-5, 123e-20, 5e-324, -5e-324,
      1e21, 9.99999999999999e20, 1e20, 123456789012345680000, -1e19, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, -(2 ** 63), 1e16, 1.1e16,
      12345678901234567, 1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308, 100, -0.5, 1234.5678, 3.14159,
    ];
    for (let e = -325; e <= 308; e++) values.push(...[Number(`1e${e}`), Number(`-4.35e${e}`), Number(`9.999999999999999e${e}`)].filter(Number.isFinite));
    for (let i = 0; i < 3_000; i++) values.push(maker.int(-1e9, 1e9) / 10 ** maker.int(0, 12), maker.int(0, 2 ** 31) * 2 ** maker.int(-60, 60));
    const bits = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 3_000; i++) {
      bits.setUint32(0, maker.int(0, 2 ** 32 - 1));
      bits.setUint32(4, maker.int(0, 2 ** 32 - 1));
      const x = bits.getFloat64(0);
      if (Number.isFinite(x)) values.push(x);
    }
    const texts = values.map((v) => JSON.stringify({ a: v }));
    const forms = await perValue(`braid_text(json_extract(v, '$.a'))`, texts);
    const differ = values.flatMap((v, i) => (forms[i] === JSON.stringify(v) ? [] : [`${JSON.stringify(v)} → ${forms[i]}`]));
    expect(differ).toEqual([]);
  });

  it('reads strings, booleans, null, objects and arrays as dimensionValue does', async () => {
    const values: unknown[] = ['', 'a', 'Ä', 'CÔTE-D’IVOIRE', '日本語', '😀', 'a\u0000b', 'tab\t"q"\\', '\u2028', 'e\u0301', '\\ud800', true, false, null, { x: 1 }, [1, 2], '3', '1e21'];
    const forms = await perValue(`braid_text(json_extract(v, '$.a'))`, values.map((v) => JSON.stringify({ a: v })));
    expect(forms).toEqual(values.map(dimensionValue));
    const missing = await perValue(`braid_text(json_extract(v, '$.b'))`, ['{"a":1}', '{}']);
    expect(missing).toEqual([null, null]);
  });

  it('reads JSON numbers only as numeric measure inputs', async () => {
    const values: unknown[] = [3, -2.5, 1e21, 0, '3', true, null, { n: 1 }, [1], 2 ** 64];
    const nums = await perValue(`braid_num(json_extract(v, '$.a'))`, values.map((v) => JSON.stringify({ a: v })));
    expect(nums).toEqual(values.map((v) => (typeof v === 'number' ? v : null)));
  });
});

describe('HyperLogLog hash in SQL', () => {
  it('gives every string the register and rank of hllHash', async () => {
    const maker = new TestEvents(11, { profile: valuesProfile });
    const strings = new Set<string>(['', 'a', 'user-42', 'CÔTE-D’IVOIRE', '日本語', '😀', 'a\u0000b', 'true', 'false', '1e+21', '19.99']);
    for (let i = 0; i < 3_000; i++) strings.add(`user-${i}`);
    for (let i = 0; i < 1_000; i++) strings.add(JSON.stringify(maker.int(-1e9, 1e9) / 10 ** maker.int(0, 6)));
    const alphabet = ['a', 'Z', '0', 'ß', 'é', '中', '😀', ' ', '"', '\\', '\n'];
    for (let i = 0; i < 1_000; i++) strings.add(Array.from({ length: maker.int(1, 12) }, () => maker.pick(alphabet)).join(''));
    const list = [...strings];
    const got = await perValue(`{'idx': braid_hll_idx(md5_number_upper(v)), 'rank': braid_hll_rank(md5_number_upper(v))}`, list);
    const differ = list.filter((s, i) => JSON.stringify(got[i]) !== JSON.stringify(hllHash(s)));
    expect(differ).toEqual([]);
    // Ranks above 1 occur, so the trailing-zero arithmetic was exercised, not just the index.
    expect(new Set(got.map((g) => (g as { rank: number }).rank)).size).toBeGreaterThan(5);
  });
});

describe('sketch bucket index in SQL', () => {
  it('agrees with sketchIndex at every bucket boundary, a few ulps either side', async () => {
    const { first, lower } = sketchBounds();
    const probes: number[] = [];
    const f = new Float64Array(1);
    const u = new BigUint64Array(f.buffer);
    for (let i = 1; i < lower.length - 2; i++) {
      const b = lower[i]!;
      if (b < SKETCH_MIN_INDEXABLE) continue;
      f[0] = b;
      const bits = u[0]!;
      for (const d of [-3n, -2n, -1n, 0n, 1n, 2n]) {
        u[0] = bits + d;
        probes.push(f[0]!);
      }
    }
    const got = await perValue('braid_sketch_index(v, s)', probes, DOUBLE);
    const differ = probes.filter((x, i) => got[i] !== sketchIndex(x));
    expect(differ).toEqual([]);
    expect(probes.length).toBeGreaterThan(6 * 30_000);
    expect(first).toBeLessThan(sketchIndex(SKETCH_MIN_INDEXABLE));
  });

  it('agrees with sketchIndex for integers, cents and random magnitudes', async () => {
    const maker = new TestEvents(5, { profile: valuesProfile });
    const values: number[] = [];
    for (let i = 1; i <= 20_000; i++) values.push(i, i / 100);
    for (let i = 0; i < 20_000; i++) values.push(Math.exp(maker.int(-20_000_000, 700_000_000) / 1e6));
    const got = await perValue('braid_sketch_index(v, s)', values, DOUBLE);
    expect(values.filter((x, i) => got[i] !== sketchIndex(x))).toEqual([]);
  });
});

describe('dedupe rule in SQL', () => {
  const view = equivalenceViews.find((v) => v.def.name === 'codes')!;
  const at = (partition: number, offset: number, appendTime: number, id: string, type = 'other', code: number = offset): TestRecord => ({
    partition,
    offset,
    appendTime,
    event: { id, type, time: Date.UTC(2026, 0, 1), data: { code } },
  });
  const counted = async (name: string, records: TestRecord[], windowMs: number, snapshot: Position = { 0: 100, 1: 100 }) => {
    const { tables } = await batchTables(name, records, snapshot, windowMs, [view], 100);
    return [...tables.get('codes')!.rows()].map((r) => r.dims[0]).sort();
  };

  it('drops a retry appended within the window and keeps the first occurrence with its content', async () => {
    expect(await counted('w1', [at(0, 0, 1_000, 'a'), at(0, 1, 2_000, 'a'), at(0, 2, 3_000, 'b')], 1_000)).toEqual(['0', '2']);
  });

  it('keeps a retry appended after the window', async () => {
    expect(await counted('w2', [at(0, 0, 1_000, 'a'), at(0, 1, 2_001, 'a')], 1_000)).toEqual(['0', '1']);
  });

  it('measures the window from the latest earlier record, duplicate or not', async () => {
    expect(await counted('w3', [at(0, 0, 0, 'a'), at(0, 1, 900, 'a'), at(0, 2, 1_800, 'a')], 1_000)).toEqual(['0']);
  });

  it('counts the same id in another partition, and dedupes across event types', async () => {
    expect(await counted('w4', [at(0, 0, 0, 'a'), at(1, 0, 0, 'a', 'other', 7), at(0, 1, 10, 'a', 'purchase')], 1_000)).toEqual(['0', '7']);
  });

  it('with forever, drops every later record of an id', async () => {
    expect(await counted('w5', [at(0, 0, 0, 'a'), at(0, 1, 10 ** 12, 'a'), at(0, 2, 2 * 10 ** 12, 'b')], Infinity)).toEqual(['0', '2']);
  });

  it('reads only records below the snapshot', async () => {
    expect(await counted('w6', [at(0, 0, 0, 'a'), at(0, 1, 0, 'b'), at(1, 0, 0, 'c', 'other', 9)], 1_000, { 0: 1 })).toEqual(['0']);
  });
});

describe('strings JSON.stringify escapes but DuckDB cannot parse', () => {
  it('a lone surrogate in data does not fail the run, and hashes as in Node', async () => {
    const [view] = parseViews([
      { name: 'paths', events: ['page_view'], granularity: 'day', dimensions: [], measures: { n: 'count', paths: { distinct: 'data.path' } } },
    ]).map(compileView);
    const paths = ['x\ud800y', '\udc00', '\ud800\ud800', '\\ud800 is text', '\ud83d\ude00 pair', 'plain'];
    const records: TestRecord[] = paths.map((p, offset) => ({
      partition: 0,
      offset,
      appendTime: offset,
      event: { id: `e${offset}`, type: 'page_view', time: Date.UTC(2026, 0, 1), data: { path: p } },
    }));
    const { tables } = await batchTables('surrogates', records, { 0: paths.length }, 0, [view!], 10);
    const expected = foldReference([view!], records);
    expect(tableDifferences(tables.get('paths')!, expected.get('paths')!)).toEqual([]);
  });
});

describe('batch states equal the TypeScript fold', () => {
  const windows = [0, 500, 3_000, 60_000, Infinity];
  for (let seed = 1; seed <= 24; seed++) {
    it(`seed ${seed}`, async () => {
      const maker = new TestEvents(seed, { profile: valuesProfile });
      const partitions = maker.int(1, 4);
      const records = maker.records(maker.int(200, 2_500), partitions);
      const snapshot = maker.snapshot(records, partitions);
      const windowMs = windows[seed % windows.length]!;
      const { tables, result } = await batchTables(`seed-${seed}`, records, snapshot, windowMs, equivalenceViews, maker.int(50, 800));
      const survivors = dedupeReference(records, snapshot, windowMs);
      const expected = foldReference(equivalenceViews, survivors);
      for (const view of equivalenceViews) {
        const name = view.def.name;
        expect(tableDifferences(tables.get(name)!, expected.get(name)!), name).toEqual([]);
        expect(result.views[name]!.rows).toBe(expected.get(name)!.size);
      }
      const below = records.filter((r) => r.offset < (snapshot[r.partition] ?? 0)).length;
      expect(result.recordsRead).toBe(below);
      expect(result.duplicates).toBe(below - survivors.length);
    });
  }

  it('entity measures: a top-k state from SQL is the summary of the exact counts, and the sets reach truncation, pruning and ties', async () => {
    const maker = new TestEvents(7, { profile: valuesProfile });
    const records = maker.records(2_500, 3);
    const snapshot = { 0: 100_000, 1: 100_000, 2: 100_000 };
    const view = equivalenceViews.find((v) => v.def.name === 'entities')!;
    const { tables } = await batchTables('entities', records, snapshot, 3_000, [view], 300);
    const survivors = dedupeReference(records, snapshot, 3_000);
    const byKey = new Map<string, Map<string, number>>();
    for (const r of survivors) {
      const c = dimensionValue(r.event.data?.country);
      if (c === null) continue;
      const key = r.event.key ?? r.event.id;
      const counts = byKey.get(key) ?? new Map<string, number>();
      counts.set(c, (counts.get(c) ?? 0) + 1);
      byKey.set(key, counts);
    }
    const capacity = 3;
    let pruned = 0;
    let truncated = 0;
    for (const row of tables.get('entities')!.rows()) {
      const state = row.states[view.measureNames.indexOf('top_countries')] as TopkState;
      const exact = [...(byKey.get(row.dims[0]!) ?? new Map<string, number>())];
      const n = exact.reduce((a, [, c]) => a + c, 0);
      const delta = exact.length > capacity ? exact.map(([, c]) => c).sort((a, b) => b - a)[capacity]! : 0;
      const kept = exact.filter(([, c]) => c > delta).sort(([a], [b]) => compareText(a, b));
      expect(state, `group ${row.dims[0]}`).toEqual({ values: kept.map(([v]) => v), counts: kept.map(([, c]) => c - delta), n });
      if (delta > 0) pruned++;
      if ((row.states[view.measureNames.indexOf('paths')] as ValuesState).truncated) truncated++;
    }
    expect(pruned, 'groups whose summary pruned counters').toBeGreaterThan(0);
    expect(truncated, 'groups with more paths than values.max').toBeGreaterThan(0);
    // Ties in event time between records of one group (retries across partitions): latest and first decide by (partition, offset).
    const times = new Map<string, Set<number>>();
    let ties = 0;
    for (const r of survivors) {
      const key = `${r.event.key ?? r.event.id}@${r.event.time}`;
      if (times.has(key)) ties++;
      times.set(key, new Set());
    }
    expect(ties, 'records of one entity at the same event time').toBeGreaterThan(0);
    // And across partitions, in the view by country (records of many keys).
    const places = new Map<string, Set<number>>();
    for (const r of survivors) {
      const country = dimensionValue(r.event.data?.country);
      if (country === null || dimensionValue(r.event.data?.path) === null) continue;
      const at = `${country}@${r.event.time}`;
      places.set(at, (places.get(at) ?? new Set<number>()).add(r.partition));
    }
    expect([...places.values()].filter((ps) => ps.size > 1).length, 'one country, one event time, several partitions').toBeGreaterThan(0);
  });

  it('the random sets hold what the comparison is about', () => {
    // Guards the generator: duplicates inside and outside the window, ids shared across
    // partitions, and groups for every view.
    const maker = new TestEvents(3, { profile: valuesProfile });
    const records = maker.records(2_000, 3);
    const all = { 0: 10_000, 1: 10_000, 2: 10_000 };
    const survivors = dedupeReference(records, all, 3_000).length;
    expect(survivors).toBeLessThan(records.length);
    expect(dedupeReference(records, all, 0).length).toBeGreaterThan(survivors);
    const partitionsById = new Map<string, Set<number>>();
    for (const r of records) partitionsById.set(r.event.id, (partitionsById.get(r.event.id) ?? new Set()).add(r.partition));
    expect([...partitionsById.values()].some((s) => s.size > 1)).toBe(true);
    for (const t of foldReference(equivalenceViews, dedupeReference(records, all, 3_000)).values()) expect(t.size).toBeGreaterThan(3);
  });
});
