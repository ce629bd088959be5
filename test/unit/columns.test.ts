import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hllRegisters, type HllState, type SketchState } from '../../shared/measures/index.js';
import { ColumnTable, compileView, freezeRows, mergeTables, parseViews, ViewTable, GroupTable, NULL_CODE } from '../../shared/views/index.js';
import { everyMeasure } from '../support/views.js';

const [def] = parseViews([{ name: 'v', events: ['e'], granularity: 'minute', dimensions: ['data.c', 'key'], measures: everyMeasure('data.x', [0.1, 0.5, 0.99]) }]);
const view = compileView(def!);
const T0 = Date.parse('2026-11-20T00:00:00Z');

const event = fc.record({
  minute: fc.integer({ min: 0, max: 30 }),
  c: fc.option(fc.constantFrom('DE', 'FR', 'é', '\u{1F600}', 'ﬀ', ''), { nil: undefined }),
  key: fc.constantFrom('u1', 'u2', 'u10', 'u3'),
  x: fc.option(fc.oneof(fc.integer({ min: -500, max: 500 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { nil: undefined }),
  id: fc.integer({ min: 0, max: 5_000 }),
});
type Ev = { minute: number; c: string | undefined; key: string; x: number | undefined; id: number };

function tableOf(events: Ev[]): ViewTable {
  const t = new ViewTable(view);
  for (const e of events) t.add({ id: `e${e.id}`, type: 'e', time: T0 + e.minute * 60_000, key: e.key, data: { ...(e.c === undefined ? {} : { c: e.c }), ...(e.x === undefined ? {} : { x: e.x }) } }, { partition: 0, offset: e.id });
  return t;
}

/** A state in a form that compares equal exactly when the states are equal. */
function canonical(state: unknown): unknown {
  if (state && typeof state === 'object' && 'sparse' in state) return { hll: hllRegisters(state as HllState) };
  if (state && typeof state === 'object' && 'pos' in state) {
    const s = state as SketchState;
    const sorted = (m: Map<number, number>) => [...m].sort((a, b) => a[0] - b[0]);
    return { pos: sorted(s.pos), neg: sorted(s.neg), zero: s.zero, count: s.count };
  }
  return state;
}

const canonicalRows = (rows: Iterable<{ bucket: number; dims: readonly (string | null)[]; states: unknown[] }>) =>
  [...rows]
    .map((r) => ({ key: JSON.stringify([r.bucket, r.dims]), states: r.states.map(canonical) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

describe('a ColumnTable (a view\'s groups at rest, in columns)', () => {
  it('holds exactly the states it was given, for every measure kind, sorted by bucket then values (nulls last)', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 120 }), (events) => {
        const folded = tableOf(events);
        const frozen = freezeRows(view, folded.rows.values());
        expect(frozen.length).toBe(folded.size);
        expect(canonicalRows(frozen.rows())).toEqual(canonicalRows(folded.rows.values()));
        for (let row = 0; row < frozen.length; row++) {
          // results straight from the columns equal the measures' results of the states
          frozen.columns.forEach((c, i) => expect(c.result(row)).toEqual(view.measures[i]!.result(frozen.states(row)[i])));
          if (row === 0) continue;
          const a = [frozen.buckets[row - 1]!, ...frozen.codes.map((c) => c[row - 1]!)];
          const b = [frozen.buckets[row]!, ...frozen.codes.map((c) => c[row]!)];
          const i = a.findIndex((x, j) => x !== b[j]);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(a[i]!).toBeLessThan(b[i]!);
        }
        frozen.dictionaries.forEach((d) => expect(d).toEqual([...d].sort()));
        for (let row = 0; row < frozen.length; row++) {
          expect(frozen.codes[0]![row] === NULL_CODE).toBe(frozen.value(0, row) === null);
        }
        // the table is its own: folding more into the source leaves it unchanged
        const before = canonicalRows(frozen.rows());
        for (const row of folded.rows.values()) row.states = row.states.map((s, i) => view.measures[i]!.add(s, 1));
        expect(canonicalRows(frozen.rows())).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });

  it('merges another table\'s rows into its own through accumulators exactly as the monoids merge states', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), fc.array(event, { maxLength: 80 }), (left, right) => {
        const a = freezeRows(view, tableOf(left).rows.values());
        const b = freezeRows(view, tableOf(right).rows.values());
        const expected = new GroupTable(view.measures).mergeAll([a.rows(), b.rows()]);
        const accumulators = a.columns.map((c) => c.accumulator());
        const index = new Map<string, number>();
        for (let row = 0; row < a.length; row++) index.set(JSON.stringify([a.buckets[row], a.dims(row)]), row);
        for (let row = 0; row < b.length; row++) {
          const slot = index.get(JSON.stringify([b.buckets[row], b.dims(row)]));
          if (slot !== undefined) accumulators.forEach((acc, i) => acc.absorb(slot, b.columns[i]!, row));
        }
        for (let row = 0; row < a.length; row++) {
          const want = expected.rows.get(`${a.buckets[row]}\u0000${JSON.stringify(a.dims(row))}`)!;
          expect(accumulators.map((acc) => canonical(acc.state(row)))).toEqual(want.states.map(canonical));
          expect(accumulators.map((acc) => acc.result(row))).toEqual(want.states.map((s, i) => view.measures[i]!.result(s)));
        }
        // the tables themselves are unchanged by the merge
        expect(canonicalRows(a.rows())).toEqual(canonicalRows(tableOf(left).rows.values()));
      }),
      { numRuns: 150 },
    );
  });

  it('keeps a dense HyperLogLog (past the sparse limit) and merges it into sparse ones', () => {
    const [d] = parseViews([{ name: 'ids', events: ['e'], granularity: 'minute', dimensions: [], measures: { ids: { distinct: 'id' } } }]);
    const ids = compileView(d!);
    const fold = (from: number, to: number) => {
      const t = new ViewTable(ids);
      for (let i = from; i < to; i++) t.add({ id: `e${i}`, type: 'e', time: T0, data: {} }, { partition: 0, offset: i });
      return t;
    };
    const many = fold(0, 3_000);
    expect((many.rows.values().next().value!.states[0] as HllState).dense).not.toBeNull();
    const a = freezeRows(ids, fold(5_000, 5_010).rows.values());
    const b = freezeRows(ids, many.rows.values());
    expect(canonicalRows(b.rows())).toEqual(canonicalRows(many.rows.values()));
    const acc = a.columns[0]!.accumulator();
    acc.absorb(0, b.columns[0]!, 0);
    const want = ids.measures[0]!.merge(a.states(0)[0], b.states(0)[0]);
    expect(canonical(acc.state(0))).toEqual(canonical(want));
    expect(acc.result(0)).toBe(ids.measures[0]!.result(want));
    expect(b.columns[0]!.result(0)).toBe(ids.measures[0]!.result(many.rows.values().next().value!.states[0]));
  });

  it('merges two tables in one sorted walk into the table of every group of both, states merged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 80 }), fc.array(event, { maxLength: 80 }), async (left, right) => {
        const a = freezeRows(view, tableOf(left).rows.values());
        const b = freezeRows(view, tableOf(right).rows.values());
        const merged = await mergeTables(a, b);
        const expected = new GroupTable(view.measures).mergeAll([tableOf(left).rows.values(), tableOf(right).rows.values()]);
        expect(canonicalRows(merged.rows())).toEqual(canonicalRows(expected.rows.values()));
        expect(canonicalRows(freezeRows(view, merged.rows()).rows())).toEqual(canonicalRows(merged.rows()));
        expect(canonicalRows(a.rows())).toEqual(canonicalRows(tableOf(left).rows.values()));
      }),
      { numRuns: 150 },
    );
  });

  it('crosses to another thread as plain data: rebuilt from a structured clone of its parts, every state and result the same', () => {
    const [entity] = parseViews([
      { name: 'ent', events: ['e'], granularity: 'none', dimensions: ['key'], measures: { last: { latest: 'data.c' }, first: { first: 'data.c' }, seen: { values: 'data.c', max: 2 }, top: { topk: 'data.c', k: 2 } } },
    ]);
    const entityView = compileView(entity!);
    fc.assert(
      fc.property(fc.array(event, { maxLength: 120 }), (events) => {
        const frozen = freezeRows(view, tableOf(events).rows.values());
        const copy = ColumnTable.fromParts(compileView(def!), structuredClone(frozen.parts()));
        expect(canonicalRows(copy.rows())).toEqual(canonicalRows(frozen.rows()));
        for (let row = 0; row < frozen.length; row++) frozen.columns.forEach((c, m) => expect(copy.columns[m]!.result(row)).toEqual(c.result(row)));
        const folded = new ViewTable(entityView);
        for (const e of events) folded.add({ id: `e${e.id}`, type: 'e', time: T0 + e.minute * 60_000, key: e.key, data: e.c === undefined ? {} : { c: e.c } }, { partition: 0, offset: e.id });
        const ent = freezeRows(entityView, folded.rows.values());
        const entCopy = ColumnTable.fromParts(entityView, structuredClone(ent.parts()));
        expect([...entCopy.rows()]).toEqual([...ent.rows()]);
      }),
      { numRuns: 60 },
    );
  });
});
