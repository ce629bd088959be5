import type { DuckDBConnection } from '@duckdb/node-api';
import { kindOf, type StateDecoder } from '../../shared/measures/index.js';
import { TableBuilder, type ColumnTable, type CompiledView } from '../../shared/views/index.js';
import { versionColumns } from './sql.js';

/**
 * Reads one view's Parquet file of a version into a ColumnTable whose states are exactly
 * what the TypeScript measures hold (HLL registers, sketch buckets), so that serving merges
 * them with the speed layer's states like any other. The file is in key order already, so
 * the table is built without a sort (TableBuilder checks, and sorts only if it is not). Each kind decodes its own columns
 * (shared/measures/kinds); lists come out of DuckDB as flat numbers read straight from the
 * vectors: converting lists of structs to JS objects costs about five times as much.
 */
export async function loadViewTable(connection: DuckDBConnection, file: string, view: CompiledView): Promise<ColumnTable> {
  const table = new TableBuilder(view);
  const decoders: StateDecoder[] = [];
  const select = ['CAST(bucket AS DOUBLE)'];
  for (const column of versionColumns(view)) {
    const c = `"${column.name}"`;
    if (column.role === 'dimension') select.push(c);
    if (column.role !== 'measure') continue;
    const decoder = kindOf(column.spec).decode(column.spec, c);
    decoders.push(decoder);
    select.push(...decoder.select);
  }
  const dims = view.def.dimensions.length;
  const result = await connection.stream(`SELECT ${select.join(', ')} FROM read_parquet($file)`, { file });
  for await (const chunk of result) {
    const vectors = Array.from({ length: chunk.columnCount }, (_, i) => chunk.getColumnVector(i));
    for (let row = 0; row < chunk.rowCount; row++) {
      const bucket = vectors[0]!.getItem(row) as number;
      const dimValues = vectors.slice(1, 1 + dims).map((v) => v.getItem(row) as string | null);
      let at = 1 + dims;
      const states = decoders.map((d) => {
        const state = d.read(vectors.slice(at, at + d.select.length), row);
        at += d.select.length;
        return state;
      });
      table.add(bucket, dimValues, states);
    }
  }
  return table.finish();
}
