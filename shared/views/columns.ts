import { Float64Builder, Int32Builder, type ColumnParts, type StateColumn } from '../measures/columns.js';
import type { CompiledView } from './compiled.js';
import type { ViewRow } from './table.js';

/** A table's contents as plain data: what a worker thread is sent to answer queries from it (serving/query/threads.ts). */
export interface TableParts {
  readonly buckets: Float64Array;
  readonly codes: readonly Int32Array[];
  readonly dictionaries: ReadonlyArray<readonly string[]>;
  readonly columns: readonly ColumnParts[];
}

/** The code of a null (missing) dimension value: after every value, as nulls sort last. */
export const NULL_CODE = 0x7fffffff;

let nextId = 0;

/**
 * A view's groups at rest, immutable, in columns (the form of a loaded batch version, a
 * sealed speed segment, a finished replay and a roll-up kept for a query shape): rows sorted
 * by bucket then dimension values, each dimension as codes into a dictionary of its values in
 * string order (so comparing codes is comparing values, and a range of buckets is a range of
 * rows), each measure in its kind's column form (shared/measures/columns.ts). About 30 bytes
 * per group for count and sum, against several hundred as objects in a map.
 */
export class ColumnTable {
  /** process-unique: what caches key a table's derived data by */
  readonly id = ++nextId;
  readonly view: CompiledView;
  readonly length: number;
  readonly buckets: Float64Array;
  /** per dimension of this table (the view's, or a roll-up's group-by), each row's value code */
  readonly codes: readonly Int32Array[];
  /** per dimension, its values in string order: a code indexes it; NULL_CODE is null */
  readonly dictionaries: ReadonlyArray<readonly string[]>;
  readonly columns: readonly StateColumn[];
  /**
   * The two tables `mergeTables` made this one of (their ids), when it did: a query thread
   * that holds both makes it the same way instead of being sent it (serving/query/threads.ts).
   */
  readonly mergedFrom: readonly [number, number] | undefined;

  constructor(
    view: CompiledView,
    buckets: Float64Array,
    codes: readonly Int32Array[],
    dictionaries: ReadonlyArray<readonly string[]>,
    columns: readonly StateColumn[],
    mergedFrom?: readonly [number, number],
  ) {
    this.mergedFrom = mergedFrom;
    this.view = view;
    this.length = buckets.length;
    this.buckets = buckets;
    this.codes = codes;
    this.dictionaries = dictionaries;
    this.columns = columns;
  }

  get size(): number {
    return this.length;
  }

  /** The table's contents as plain data; `ColumnTable.fromParts` rebuilds it (in any thread). */
  parts(): TableParts {
    return { buckets: this.buckets, codes: this.codes, dictionaries: this.dictionaries, columns: this.columns.map((c) => c.parts()) };
  }

  /** The table whose `parts()` these are, for `view` (compiled from the same definition). */
  static fromParts(view: CompiledView, parts: TableParts): ColumnTable {
    return new ColumnTable(view, parts.buckets, parts.codes, parts.dictionaries, parts.columns.map((c, m) => view.columns[m]!.fromParts(c)));
  }

  /** Bytes of the buckets, codes and measure columns: what a roll-up sharing its source's dictionaries holds of its own. */
  get arrayBytes(): number {
    let bytes = this.buckets.byteLength;
    for (const c of this.codes) bytes += c.byteLength;
    for (const c of this.columns) bytes += c.bytes;
    return bytes;
  }

  /** Bytes held, the dictionaries counted at their strings' length plus a slot. */
  get bytes(): number {
    let bytes = this.arrayBytes;
    for (const d of this.dictionaries) for (const v of d) bytes += 16 + v.length;
    return bytes;
  }

  value(dim: number, row: number): string | null {
    const code = this.codes[dim]![row]!;
    return code === NULL_CODE ? null : this.dictionaries[dim]![code]!;
  }

  dims(row: number): (string | null)[] {
    return this.codes.map((_, d) => this.value(d, row));
  }

  /** The row's states, fresh (the caller's own). */
  states(row: number): unknown[] {
    return this.columns.map((c) => c.state(row));
  }

  /** Every group as a row with states of its own: for verification and compaction's fallbacks. */
  *rows(): IterableIterator<ViewRow> {
    for (let row = 0; row < this.length; row++) yield { bucket: this.buckets[row]!, dims: this.dims(row), states: this.states(row) };
  }

  /** The code of `value` in dimension `dim`, or -1 when the dictionary does not hold it. */
  codeOf(dim: number, value: string | null): number {
    if (value === null) return NULL_CODE;
    const dict = this.dictionaries[dim]!;
    const at = lowerBound(dict, value);
    return at < dict.length && dict[at] === value ? at : -1;
  }

  /** The first row whose bucket is at or after `bucket`. */
  firstRowAt(bucket: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buckets[mid]! < bucket) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The first index of sorted `values` not below `value` (string order). */
export function lowerBound(values: readonly string[], value: string, lo = 0): number {
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Builds a ColumnTable from groups given in any order (each key once): the states go into
 * the columns as they come, and `finish` sorts by key only when they did not come sorted
 * (a version's Parquet is written in key order already).
 */
export class TableBuilder {
  readonly #view: CompiledView;
  readonly #dims: number;
  readonly #buckets: number[] = [];
  readonly #values: Array<(string | null)[]>;
  readonly #builders;

  constructor(view: CompiledView, dims = view.def.dimensions.length) {
    this.#view = view;
    this.#dims = dims;
    this.#values = Array.from({ length: dims }, () => []);
    this.#builders = view.columns.map((c) => c.builder());
  }

  get length(): number {
    return this.#buckets.length;
  }

  add(bucket: number, dims: readonly (string | null)[], states: readonly unknown[]): void {
    this.#buckets.push(bucket);
    for (let d = 0; d < this.#dims; d++) this.#values[d]!.push(dims[d] ?? null);
    for (let i = 0; i < this.#builders.length; i++) this.#builders[i]!.push(states[i]);
  }

  finish(): ColumnTable {
    const n = this.#buckets.length;
    const dictionaries: string[][] = [];
    const codes: Int32Array[] = [];
    for (let d = 0; d < this.#dims; d++) {
      const values = this.#values[d]!;
      const dict = [...new Set(values.filter((v): v is string => v !== null))].sort();
      const index = new Map(dict.map((v, i) => [v, i]));
      const c = new Int32Array(n);
      for (let row = 0; row < n; row++) {
        const v = values[row]!;
        c[row] = v === null ? NULL_CODE : index.get(v)!;
      }
      dictionaries.push(dict);
      codes.push(c);
    }
    const buckets = Float64Array.from(this.#buckets);
    const columns = this.#builders.map((b) => b.finish());
    const compare = (a: number, b: number): number => {
      if (buckets[a] !== buckets[b]) return buckets[a]! - buckets[b]!;
      for (const c of codes) if (c[a] !== c[b]) return c[a]! - c[b]!;
      return 0;
    };
    let sorted = true;
    for (let row = 1; row < n && sorted; row++) if (compare(row - 1, row) >= 0) sorted = false;
    if (sorted) return new ColumnTable(this.#view, buckets, codes, dictionaries, columns);
    const order = Int32Array.from({ length: n }, (_, i) => i).sort(compare);
    for (let row = 1; row < n; row++) if (compare(order[row - 1]!, order[row]!) === 0) throw new Error('a table holds one group twice');
    const permuted = this.#view.columns.map((form, i) => {
      const b = form.builder(n);
      for (const row of order) b.pushFrom(columns[i]!, row);
      return b.finish();
    });
    return new ColumnTable(
      this.#view,
      Float64Array.from(order, (row) => buckets[row]!),
      codes.map((c) => Int32Array.from(order, (row) => c[row]!)),
      dictionaries,
      permuted,
    );
  }
}

/** A table of the groups of `rows` (a ViewTable's, a GroupTable's), each key once. */
export function freezeRows(view: CompiledView, rows: Iterable<ViewRow>, dims = view.def.dimensions.length): ColumnTable {
  const builder = new TableBuilder(view, dims);
  for (const row of rows) builder.add(row.bucket, row.dims, row.states);
  return builder.finish();
}

/** Merges two sorted dictionaries: the merged values, and each side's old code → new code. */
async function mergeDictionaries(a: readonly string[], b: readonly string[], pause?: () => Promise<void> | undefined): Promise<{ values: string[]; fromA: Int32Array; fromB: Int32Array }> {
  const values: string[] = [];
  const fromA = new Int32Array(a.length);
  const fromB = new Int32Array(b.length);
  let i = 0;
  let j = 0;
  let steps = 0;
  while (i < a.length || j < b.length) {
    if (pause && (++steps & 4_095) === 0) await pause();
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) {
      fromA[i++] = values.length;
      values.push(a[i - 1]!);
    } else if (i >= a.length || b[j]! < a[i]!) {
      fromB[j++] = values.length;
      values.push(b[j - 1]!);
    } else {
      fromA[i++] = values.length;
      fromB[j++] = values.length;
      values.push(a[i - 1]!);
    }
  }
  return { values, fromA, fromB };
}

/**
 * The groups of two tables of one view merged into one table: a group in both gets the two
 * states merged (`b`'s absorbed into a copy of `a`'s). Both are sorted, so this is one walk
 * of each, in order: no hashing and no sort. `pause` is awaited every few thousand rows (a
 * long merge shares the event loop).
 */
export async function mergeTables(a: ColumnTable, b: ColumnTable, pause?: () => Promise<void> | undefined): Promise<ColumnTable> {
  const dims = a.codes.length;
  const dictionaries: Array<Awaited<ReturnType<typeof mergeDictionaries>>> = [];
  for (let d = 0; d < dims; d++) dictionaries.push(await mergeDictionaries(a.dictionaries[d]!, b.dictionaries[d]!, pause));
  const recode = (map: Int32Array, code: number) => (code === NULL_CODE ? NULL_CODE : map[code]!);
  const n = a.length + b.length;
  const buckets = new Float64Builder(n);
  const codes = Array.from({ length: dims }, () => new Int32Builder(n));
  const view = a.view;
  const builders = view.columns.map((c) => c.builder(n));
  const key = new Int32Array(dims);
  let i = 0;
  let j = 0;
  let steps = 0;
  while (i < a.length || j < b.length) {
    if (pause && (++steps & 4_095) === 0) await pause();
    let c = 0;
    if (i >= a.length) c = 1;
    else if (j >= b.length) c = -1;
    else {
      c = a.buckets[i]! - b.buckets[j]!;
      for (let d = 0; c === 0 && d < dims; d++) c = recode(dictionaries[d]!.fromA, a.codes[d]![i]!) - recode(dictionaries[d]!.fromB, b.codes[d]![j]!);
    }
    if (c <= 0) {
      buckets.push(a.buckets[i]!);
      for (let d = 0; d < dims; d++) key[d] = recode(dictionaries[d]!.fromA, a.codes[d]![i]!);
    } else {
      buckets.push(b.buckets[j]!);
      for (let d = 0; d < dims; d++) key[d] = recode(dictionaries[d]!.fromB, b.codes[d]![j]!);
    }
    for (let d = 0; d < dims; d++) codes[d]!.push(key[d]!);
    for (let m = 0; m < builders.length; m++) {
      if (c < 0) builders[m]!.pushFrom(a.columns[m]!, i);
      else if (c > 0) builders[m]!.pushFrom(b.columns[m]!, j);
      else builders[m]!.push(b.columns[m]!.absorbInto(a.columns[m]!.state(i), j));
    }
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  return new ColumnTable(
    view,
    buckets.finish(),
    codes.map((c) => c.finish()),
    dictionaries.map((d) => d.values),
    builders.map((b) => b.finish()),
    [a.id, b.id],
  );
}
