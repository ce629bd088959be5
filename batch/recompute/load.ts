import type { DuckDBConnection, DuckDBListVector, DuckDBVector } from '@duckdb/node-api';
import { HLL_M, hllAddHash, hllInit, type AvgState, type HllState, type SketchState } from '../../shared/measures/index.js';
import { ViewTable, groupKey, type CompiledView } from '../../shared/views/index.js';
import { versionColumns } from './sql.js';

/** Reads one measure's state from a row of the columns its `select` expressions produce. */
interface StateReader {
  readonly select: string[];
  read(columns: readonly DuckDBVector[], row: number): unknown;
}

const RANK_BITS = 64; // a register travels as idx * 64 + rank (rank <= 51)

/**
 * Reads one view's Parquet file of a version into a ViewTable whose states are exactly
 * what the TypeScript measures hold (HLL registers, sketch maps), so that serving merges
 * them with the speed layer's states like any other. Lists come out of DuckDB as flat
 * numbers read straight from the vectors: converting lists of structs to JS objects costs
 * about five times as much.
 */
export async function loadViewTable(connection: DuckDBConnection, file: string, view: CompiledView): Promise<ViewTable> {
  const table = new ViewTable(view);
  const readers: StateReader[] = [];
  const select = ['CAST(bucket AS DOUBLE)'];
  for (const column of versionColumns(view)) {
    const c = `"${column.name}"`;
    if (column.role === 'dimension') select.push(c);
    if (column.role !== 'measure') continue;
    const reader = stateReader(column.spec.kind, c);
    readers.push(reader);
    select.push(...reader.select);
  }
  const dims = view.def.dimensions.length;
  const result = await connection.stream(`SELECT ${select.join(', ')} FROM read_parquet($file)`, { file });
  for await (const chunk of result) {
    const vectors = Array.from({ length: chunk.columnCount }, (_, i) => chunk.getColumnVector(i));
    for (let row = 0; row < chunk.rowCount; row++) {
      const bucket = vectors[0]!.getItem(row) as number;
      const dimValues = vectors.slice(1, 1 + dims).map((v) => v.getItem(row) as string | null);
      let at = 1 + dims;
      const states = readers.map((r) => {
        const state = r.read(vectors.slice(at, at + r.select.length), row);
        at += r.select.length;
        return state;
      });
      table.rows.set(groupKey(bucket, dimValues), { bucket, dims: dimValues, states });
    }
  }
  return table;
}

function stateReader(kind: string, c: string): StateReader {
  const num = (columns: readonly DuckDBVector[], i: number, row: number) => columns[i]!.getItem(row) as number | null;
  switch (kind) {
    case 'count':
      return { select: [`CAST(${c} AS DOUBLE)`], read: (cols, row) => num(cols, 0, row) };
    case 'sum':
    case 'min':
    case 'max':
      return { select: [c], read: (cols, row) => num(cols, 0, row) };
    case 'avg':
      return {
        select: [`${c}.sum`, `CAST(${c}.count AS DOUBLE)`],
        read: (cols, row): AvgState => ({ sum: num(cols, 0, row)!, count: num(cols, 1, row)! }),
      };
    case 'distinct':
      return {
        select: [`list_transform(${c}, r -> CAST(r.idx AS INTEGER) * ${RANK_BITS} + r.rank)`],
        read: (cols, row) => registers(numbers(cols[0]!, row)),
      };
    case 'quantile': {
      const side = (s: string) => [`list_transform(${c}.${s}, b -> b.index)`, `list_transform(${c}.${s}, b -> CAST(b.count AS DOUBLE))`];
      const buckets = (cols: readonly DuckDBVector[], i: number, row: number) => {
        const index = numbers(cols[i]!, row);
        const count = numbers(cols[i + 1]!, row);
        return new Map(index.map((k, j) => [k, count[j]!]));
      };
      return {
        select: [...side('pos'), ...side('neg'), `CAST(${c}.zero AS DOUBLE)`, `CAST(${c}.count AS DOUBLE)`],
        read: (cols, row): SketchState => ({ pos: buckets(cols, 0, row), neg: buckets(cols, 2, row), zero: num(cols, 4, row)!, count: num(cols, 5, row)! }),
      };
    }
    default:
      throw new Error(`unknown measure kind ${kind}`);
  }
}

/** A row's list of numbers, read from the list vector's flat child without per-row slices. */
function numbers(vector: DuckDBVector, row: number): number[] {
  const list = vector as DuckDBListVector;
  const from = list.getEntryOffset(row);
  const length = list.getEntryLength(row);
  const child = list.childVector;
  const out = new Array<number>(length);
  for (let i = 0; i < length; i++) out[i] = child.getItem(from + i) as number;
  return out;
}

function registers(packed: readonly number[]): HllState {
  let state = hllInit();
  for (const p of packed) {
    const idx = Math.floor(p / RANK_BITS);
    if (idx >= HLL_M) throw new Error(`HLL register ${idx} out of range`);
    state = hllAddHash(state, idx, p % RANK_BITS);
  }
  return state;
}
