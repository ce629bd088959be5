import { HLL_M, HLL_P, hllAbsorb, hllAdd, hllAddHash, hllEstimate, hllEstimateOfRanks, hllInit, hllMerge, hllRegisters, type HllState } from '../hll.js';
import { Int32Builder, mapAccumulator, type ColumnForm, type StateColumn } from '../columns.js';
import { differenceOf, listNumbers, type Measure, type MeasureKind } from '../kind.js';

export interface DistinctSpec {
  readonly kind: 'distinct';
  readonly path: string;
}

/**
 * The string form a distinct count hashes: strings as they are, other scalars as their
 * JSON text (what the stored event's JSON holds), null and missing values ignored.
 */
export function distinctForm(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return undefined;
}

export const distinct: Measure<HllState, number> = {
  kind: 'distinct',
  init: hllInit,
  add: (s, v) => {
    const form = distinctForm(v);
    return form === undefined ? s : hllAdd(s, form);
  },
  merge: hllMerge,
  absorb: hllAbsorb,
  result: hllEstimate,
};

/**
 * Registers packed per row as idx * 64 + rank in one Int32Array (sorted by idx), a row's
 * run given by offsets; a row past the sparse limit keeps its 16 KiB dense array.
 */
const distinctColumns: ColumnForm<HllState> = {
  builder(capacity) {
    const packed = new Int32Builder(capacity);
    const offsets = new Int32Builder((capacity ?? 1_024) + 1);
    offsets.push(0);
    const dense = new Map<number, Uint8Array>();
    const push = (s: HllState) => {
      if (s.dense) dense.set(offsets.length - 1, s.dense.slice());
      else for (const [idx, rank] of [...s.sparse!].sort((a, b) => a[0] - b[0])) packed.push(idx * 64 + rank);
      offsets.push(packed.length);
    };
    return {
      push,
      pushFrom(from, row) {
        const p = packedOf.get(from);
        if (!p) return push(from.state(row));
        const d = p.dense.get(row);
        if (d) dense.set(offsets.length - 1, d); // immutable: shared
        else for (let i = p.offsets[row]!; i < p.offsets[row + 1]!; i++) packed.push(p.packed[i]!);
        offsets.push(packed.length);
      },
      finish: () => distinctColumn(packed.finish(), offsets.finish(), dense),
    };
  },
  fromParts: (parts) => distinctColumn(parts.packed as Int32Array, parts.offsets as Int32Array, parts.dense as Map<number, Uint8Array>),
};

const packedOf = new WeakMap<StateColumn<HllState>, { packed: Int32Array; offsets: Int32Array; dense: Map<number, Uint8Array> }>();

function distinctColumn(packed: Int32Array, offsets: Int32Array, dense: Map<number, Uint8Array>): StateColumn<HllState> {
  const column: StateColumn<HllState> = {
    length: offsets.length - 1,
    bytes: packed.byteLength + offsets.byteLength + dense.size * HLL_M,
    state(row) {
      const d = dense.get(row);
      if (d) return { sparse: null, dense: d.slice() };
      const sparse = new Map<number, number>();
      for (let i = offsets[row]!; i < offsets[row + 1]!; i++) sparse.set(packed[i]! >> 6, packed[i]! & 63);
      return { sparse, dense: null };
    },
    absorbInto(into, row) {
      const d = dense.get(row);
      if (d) return hllAbsorb(into, { sparse: null, dense: d });
      let s = into;
      for (let i = offsets[row]!; i < offsets[row + 1]!; i++) s = hllAddHash(s, packed[i]! >> 6, packed[i]! & 63);
      return s;
    },
    result(row) {
      const d = dense.get(row);
      if (d) return hllEstimate({ sparse: null, dense: d });
      const ranks = new Float64Array(65);
      ranks[0] = HLL_M - (offsets[row + 1]! - offsets[row]!);
      for (let i = offsets[row]!; i < offsets[row + 1]!; i++) ranks[packed[i]! & 63]!++;
      return hllEstimateOfRanks(ranks);
    },
    accumulator: () => mapAccumulator(distinct, column),
    parts: () => ({ packed, offsets, dense }),
  };
  packedOf.set(column, { packed, offsets, dense });
  return column;
}

const RANK_BITS = 64; // a register travels from DuckDB as idx * 64 + rank (rank <= 51)

/**
 * `distinct: <path>`: HyperLogLog registers (hll.ts), merged register-wise by max. The
 * registers are identical in every engine: SQL hashes with `md5_number_upper`, the same
 * 64 bits as TypeScript's md5, and takes the rank from trailing zeros.
 */
export const distinctKind: MeasureKind<DistinctSpec> = {
  name: 'distinct',
  spec: (path) => (path === undefined ? undefined : { kind: 'distinct', path }),
  monoid: () => distinct,
  columns: () => distinctColumns,
  isEmpty: (s: HllState) => hllRegisters(s).length === 0,
  setup: [
    `CREATE OR REPLACE TEMP MACRO braid_hll_idx(h) AS CAST(h & ${HLL_M - 1} AS USMALLINT)`,
    // rank = trailing zeros of w = h >> P, plus one; 64 - P + 1 when w = 0
    `CREATE OR REPLACE TEMP MACRO braid_hll_rank(h) AS CAST(CASE WHEN h >> ${HLL_P} = 0 THEN ${64 - HLL_P + 1}
    ELSE bit_count(xor(h >> ${HLL_P}, (h >> ${HLL_P}) - 1)) END AS UTINYINT)`,
  ],
  sql: (spec, { m, group, side, text }) => ({
    input: `${text(spec.path)} AS ${m}`,
    side: `${side} AS (
          SELECT ${group}, list({'idx': idx, 'rank': rank}) AS registers
          FROM (SELECT ${group}, braid_hll_idx(h) AS idx, max(braid_hll_rank(h)) AS rank
                FROM (SELECT ${group}, md5_number_upper(${m}) AS h FROM base WHERE ${m} IS NOT NULL)
                GROUP BY ${group}, idx)
          GROUP BY ${group})`,
    output: `coalesce(${side}.registers, CAST([] AS STRUCT(idx USMALLINT, rank UTINYINT)[]))`,
  }),
  decode: (_spec, c) => ({
    select: [`list_transform(${c}, r -> CAST(r.idx AS INTEGER) * ${RANK_BITS} + r.rank)`],
    read: (columns, row) => {
      let state = hllInit();
      for (const p of listNumbers(columns[0]!, row)) {
        const idx = Math.floor(p / RANK_BITS);
        if (idx >= HLL_M) throw new Error(`HLL register ${idx} out of range`);
        state = hllAddHash(state, idx, p % RANK_BITS);
      }
      return state;
    },
  }),
  difference: (_spec, measure, a: HllState, b: HllState) => {
    const x = hllRegisters(a);
    const y = hllRegisters(b);
    const same = x.length === y.length && x.every(([i, r], j) => y[j]![0] === i && y[j]![1] === r);
    return same ? undefined : differenceOf(measure, a, b, Infinity);
  },
};
