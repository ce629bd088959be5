import { hllRegisters, kindOf, type AvgState, type HllState, type SketchState } from '../../shared/measures/index.js';
import { ColumnTable, groupKey, type ViewRow, type ViewTable } from '../../shared/views/index.js';

/** A table's groups by key, whichever form it is in. */
function byKey(table: ViewTable | ColumnTable): Map<string, ViewRow> {
  if (!(table instanceof ColumnTable)) return table.rows;
  return new Map([...table.rows()].map((r) => [groupKey(r.bucket, r.dims), r]));
}

/** Sums agree within this relative tolerance (contract §4); everything else exactly. */
const SUM_TOLERANCE = 1e-9;

const closeEnough = (a: number, b: number) => Math.abs(a - b) <= SUM_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
const sortedEntries = (m: Map<number, number>) => [...m.entries()].sort((x, y) => x[0] - y[0]);

/**
 * Every difference between two tables of one view, as readable lines (empty when they
 * agree): groups on one side only, and measure states that differ — HLL registers and
 * sketch buckets must be identical, sums within SUM_TOLERANCE relative.
 */
export function tableDifferences(actualTable: ViewTable | ColumnTable, expectedTable: ViewTable | ColumnTable, limit = 20): string[] {
  const out: string[] = [];
  const { measures, measureNames } = expectedTable.view;
  const actual = byKey(actualTable);
  const expected = byKey(expectedTable);
  for (const [key, row] of expected) {
    const other = actual.get(key);
    if (!other) {
      out.push(`missing group ${JSON.stringify(key)}`);
      continue;
    }
    measures.forEach((m, i) => {
      const a = other.states[i];
      const e = row.states[i];
      const where = `group ${JSON.stringify(key)} measure ${measureNames[i]}`;
      switch (m.kind) {
        case 'sum':
          if (!(a === null && e === null) && (a === null || e === null || !closeEnough(a as number, e as number))) out.push(`${where}: ${a} != ${e}`);
          break;
        case 'avg': {
          const [x, y] = [a as AvgState, e as AvgState];
          if (x.count !== y.count || !closeEnough(x.sum, y.sum)) out.push(`${where}: ${JSON.stringify(x)} != ${JSON.stringify(y)}`);
          break;
        }
        case 'distinct': {
          const [x, y] = [JSON.stringify(hllRegisters(a as HllState)), JSON.stringify(hllRegisters(e as HllState))];
          if (x !== y) out.push(`${where}: registers ${x.slice(0, 200)} != ${y.slice(0, 200)}`);
          break;
        }
        case 'quantile': {
          const show = (s: SketchState) => JSON.stringify({ pos: sortedEntries(s.pos), neg: sortedEntries(s.neg), zero: s.zero, count: s.count });
          const [x, y] = [show(a as SketchState), show(e as SketchState)];
          if (x !== y) out.push(`${where}: sketch ${x.slice(0, 300)} != ${y.slice(0, 300)}`);
          break;
        }
        case 'latest':
        case 'first':
        case 'values':
          if (JSON.stringify(a) !== JSON.stringify(e)) out.push(`${where}: ${JSON.stringify(a)?.slice(0, 300)} != ${JSON.stringify(e)?.slice(0, 300)}`);
          break;
        case 'topk': {
          // Summaries merged in other orders agree within their bounds, not bit for bit (topk.ts).
          const spec = expectedTable.view.def.measures[measureNames[i]!]!;
          const d = kindOf(spec).difference(spec, m, a, e);
          if (d) out.push(`${where}: ${JSON.stringify(a).slice(0, 300)} != ${JSON.stringify(e).slice(0, 300)} beyond the bounds`);
          break;
        }
        default:
          if (!Object.is(a, e)) out.push(`${where}: ${a} != ${e}`);
      }
    });
  }
  for (const key of actual.keys()) if (!expected.has(key)) out.push(`extra group ${JSON.stringify(key)}`);
  return out.slice(0, limit);
}
