import { describe, expect, it } from 'vitest';
import { jsonPath, rangeStatement, sketchBounds, survivorsStatements, versionColumns, viewStatement } from '../../batch/recompute/index.js';
import { SKETCH_MIN_INDEXABLE, sketchIndex } from '../../shared/measures/index.js';
import { compileView, parseViews } from '../../shared/views/index.js';

const hostile = "x'); DROP TABLE braid_records; --";
const [view] = parseViews([
  {
    name: 'orders',
    events: ['purchase', 'order:v2.x-1'],
    where: { 'data.channel': [hostile, 'web'], 'data.a-b.c_d': ['1'] },
    granularity: 'hour',
    dimensions: ['data.country', 'key'],
    measures: { n: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'key' }, q: { quantile: 'data.amount', q: [0.5] } },
  },
]).map(compileView);

describe('batch SQL', () => {
  it('binds every value from the config as a parameter, never as SQL text', () => {
    const { sql, values } = viewStatement(view!);
    for (const text of [hostile, 'order:v2.x-1', 'purchase', 'web', '$."channel"', 'data.amount', '3600000']) expect(sql).not.toContain(text);
    const bound = JSON.stringify(values, (_, v) => (typeof v === 'bigint' ? String(v) : v));
    for (const text of [hostile, 'order:v2.x-1', '$.\\"channel\\"', '$.\\"a-b\\".\\"c_d\\"', '3600000']) expect(bound).toContain(text);
  });

  it('binds the files, the snapshot and the dedupe window too', () => {
    const statements = [
      rangeStatement({ 0: 12, 3: 7 }, { 0: 5 }),
      ...survivorsStatements({
        files: ["/data/o'brien/0.parquet"],
        snapshot: { 0: 12, 3: 7 },
        after: { 0: 5 },
        earlier: [{ partition: 0, files: ["/data/o'neil/1.parquet"], since: 123_456_789 }],
        dedupeWindowMs: 86_400_000,
        types: [hostile],
      }),
    ];
    const sql = statements.map((s) => s.sql).join('\n');
    for (const text of ["o'brien", "o'neil", hostile, '86400000', '12', '123456789']) expect(sql).not.toContain(text);
    const bound = JSON.stringify(statements.map((s) => s.values), (_, v) => (typeof v === 'bigint' ? String(v) : v));
    for (const text of ["o'brien", "o'neil", '86400000', '123456789']) expect(bound).toContain(text);
  });

  it('quotes names only after checking them', () => {
    const columns = versionColumns(view!).map((c) => c.name);
    expect(columns).toEqual(['bucket', 'data.country', 'key', 'n', 'revenue', 'buyers', 'q']);
    expect(viewStatement(view!).sql).toContain('AS "data.country"');
    const bad = { ...view!, measureNames: ['x"; --'], def: { ...view!.def, measures: { 'x"; --': { kind: 'count' as const } } } };
    expect(() => viewStatement(bad)).toThrow(/cannot name a column/);
  });

  it('turns a data path into a quoted JSON path', () => {
    expect(jsonPath('data.a')).toBe('$."a"');
    expect(jsonPath('data.a-b.c_d')).toBe('$."a-b"."c_d"');
  });

  it('rejects a dedupe window that is not whole milliseconds', () => {
    expect(() => survivorsStatements({ files: ['f'], snapshot: {}, dedupeWindowMs: 1.5, types: ['x'] })).toThrow(/dedupe window/);
  });
});

describe('sketch bucket bounds', () => {
  it('holds, for every bucket, the smallest double with that index', () => {
    const { first, lower } = sketchBounds();
    const f = new Float64Array(1);
    const u = new BigUint64Array(f.buffer);
    const below = (x: number) => ((f[0] = x), (u[0] = u[0]! - 1n), f[0]!);
    let checked = 0;
    for (let i = 0; i < lower.length; i++) {
      const x = lower[i]!;
      if (x === Infinity || x < SKETCH_MIN_INDEXABLE) continue;
      // `+ 0`: sketchIndex gives -0 just below 1, the same bucket (Map keys treat -0 as 0)
      expect(sketchIndex(x) + 0).toBe(first + i);
      expect(sketchIndex(below(x)) + 0).toBe(first + i - 1);
      checked++;
    }
    expect(checked).toBeGreaterThan(36_000);
  });
});
