import { BraidError } from '../../shared/errors.js';
import type { Accumulator } from '../../shared/measures/index.js';
import { Float64Builder, Int32Builder } from '../../shared/measures/columns.js';
import { bucketOf, ColumnTable, Granularities, groupKey, lowerBound, NULL_CODE, type CompiledView, type Granularity } from '../../shared/views/index.js';
import type { QueryCache } from './cache.js';
import type { Answered, AnswerRow, DimFilter, HavingOp, OrderKey, QueryBudget, ViewQuery } from './query.js';

/**
 * The query engine (contract §10, docs/architecture.md "Serving at scale"). Every source of
 * an answer — a batch version, the speed layer's sealed segments, a replay — is an immutable
 * ColumnTable, so a query:
 *
 * 1. shapes each table: the rows in range and filters, and when the query rolls up (a coarser
 *    bucket, fewer or reordered dimensions) the table's roll-up to that shape, kept in the
 *    cache per table (a batch version's roll-up is built once, not per request);
 * 2. merges the shaped tables onto the largest one (the skeleton): where each other table's
 *    groups are in it is found once per pair of tables and kept; the measures that order and
 *    filter the answer are merged per group through column accumulators (typed arrays for
 *    count, sum, min, max, avg); groups only the other tables hold are merged apart;
 * 3. and only then applies `having`, orders (a bounded heap for a top-N), cuts, and builds the
 *    states of the rows it returns — exact over every group of every source.
 *
 * Long loops pause every few thousand steps (`pause`), so a query shares the event loop with
 * ingest and the speed layer's fold instead of holding it.
 */
export interface EngineOptions {
  readonly cache: QueryCache;
  /** awaited when it returns a promise: the query's slice of the event loop is spent */
  readonly pause: () => Promise<void> | undefined;
  /** tables smaller than this are shaped and mapped per query: cheaper than a cache entry */
  readonly cacheMinRows?: number;
  /** rows between two pauses (a power of two) */
  readonly step?: number;
}

/** The rows of a table a query reads: `rows[k]` when given, else `lo + k`. */
interface Part {
  readonly table: ColumnTable;
  readonly rows?: Int32Array;
  readonly lo: number;
  readonly count: number;
  /** the earliest source bucket of the selected rows (granularity all's bucket) */
  readonly first: number;
}

const rowAt = (p: Part, k: number): number => (p.rows ? p.rows[k]! : p.lo + k);

/** A group that only tables other than the skeleton hold, merged apart. */
interface Extra {
  readonly bucket: number;
  readonly dims: (string | null)[];
  readonly states: unknown[];
  results?: unknown[];
}

class Budget {
  touched = 0;
  constructor(readonly budget: QueryBudget | undefined) {}

  touch(n: number): void {
    this.touched += n;
    if (this.budget && this.touched > this.budget.maxGroups) this.#fail(`the query merges more than ${this.budget.maxGroups} groups (query.maxGroups)`);
  }

  check(): void {
    if (this.budget && Date.now() > this.budget.deadline) this.#fail(`the query ran longer than ${this.budget.timeoutMs} ms (query.timeoutMs) and was stopped`);
  }

  #fail(what: string): never {
    throw new BraidError('query_too_large', `${what}; narrow it with from/to, where.<dimension> or fewer group_by dimensions, or ask a coarser granularity`);
  }
}

/** How the engine found the rows of its queries (tests and the query bench read it). */
export interface EngineStats {
  /** tables whose rows a point lookup found by binary search */
  pointLookups: number;
  /** rows a filter tested one by one */
  rowsScanned: number;
}

/** At most this many value combinations make a point lookup (each looked up alone). */
const MAX_POINTS = 64;

export class QueryEngine {
  readonly stats: EngineStats = { pointLookups: 0, rowsScanned: 0 };
  readonly #cache: QueryCache;
  readonly #pause: () => Promise<void> | undefined;
  readonly #cacheMinRows: number;
  /** step - 1: a loop pauses where (k & mask) === mask */
  readonly #mask: number;

  constructor(options: EngineOptions) {
    this.#cache = options.cache;
    this.#pause = options.pause;
    this.#cacheMinRows = options.cacheMinRows ?? 2_048;
    this.#mask = (options.step ?? 4_096) - 1;
  }

  async answer(view: CompiledView, tables: readonly ColumnTable[], q: ViewQuery): Promise<Answered> {
    const budget = new Budget(q.budget);
    const { def } = view;
    const all = q.granularity === 'all';
    const sameBucket = !all && Granularities[q.granularity as Granularity] === Granularities[def.granularity];
    const ownDims = q.groupBy.length === def.dimensions.length && q.groupBy.every((d, i) => d === i);
    const parts: Part[] = [];
    for (const table of tables) {
      if (table.length === 0) continue;
      // granularity=all over a table of one bucket, every dimension: its rows as they are.
      const oneBucket = all && ownDims && table.buckets[0] === table.buckets[table.length - 1];
      const part = (sameBucket || oneBucket) && ownDims ? await this.#select(table, q, budget) : await this.#rolled(view, table, q, budget);
      budget.touch(part.count);
      if (part.count > 0) parts.push(part);
    }
    if (parts.length === 0) return { rows: [], groups: 0, truncated: false };
    let skeleton = parts[0]!;
    for (const p of parts) if (p.count > skeleton.count) skeleton = p;
    const others = parts.filter((p) => p !== skeleton);
    const maps: Int32Array[] = [];
    for (const other of others) maps.push(await this.#mapping(skeleton.table, other, all, budget));

    // Groups only other tables hold, merged by key.
    const extras = new Map<string, Extra>();
    for (let o = 0; o < others.length; o++) {
      const other = others[o]!;
      const map = maps[o]!;
      for (let k = 0; k < other.count; k++) {
        if ((k & this.#mask) === this.#mask) await this.#step(budget);
        if (map[k]! >= 0) continue;
        const row = rowAt(other, k);
        const bucket = all ? 0 : other.table.buckets[row]!;
        const dims = other.table.dims(row);
        const key = groupKey(bucket, dims);
        const extra = extras.get(key);
        if (!extra) extras.set(key, { bucket, dims, states: other.table.states(row) });
        else other.table.columns.forEach((c, m) => (extra.states[m] = c.absorbInto(extra.states[m], row)));
      }
    }

    // The measures the answer is ordered or filtered by, merged for every skeleton group.
    const needed = new Set<number>([...q.orderBy.filter((k) => k.kind === 'measure').map((k) => k.index), ...q.having.map((h) => h.measure)]);
    const accumulators = new Map<number, Accumulator>();
    for (const m of needed) {
      const acc = skeleton.table.columns[m]!.accumulator();
      for (let o = 0; o < others.length; o++) {
        const other = others[o]!;
        const map = maps[o]!;
        const from = other.table.columns[m]!;
        for (let k = 0; k < other.count; k++) {
          if ((k & this.#mask) === this.#mask) await this.#step(budget);
          const slot = map[k]!;
          if (slot >= 0) acc.absorb(slot, from, rowAt(other, k));
        }
      }
      accumulators.set(m, acc);
    }

    const extraList = [...extras.values()];
    const first = Math.min(...parts.map((p) => p.first));
    const ranked = await this.#rank(view, skeleton, accumulators, extraList, q, budget);
    return this.#materialize(view, skeleton, others, maps, accumulators, extraList, ranked, q, first, budget);
  }

  async #step(budget: Budget): Promise<void> {
    budget.check();
    const p = this.#pause();
    if (p) await p;
  }

  /** The rows of a table in range and filters, as they are (the query's own bucket and dimensions). */
  async #select(table: ColumnTable, q: ViewQuery, budget: Budget): Promise<Part> {
    const lo = q.from === undefined ? 0 : table.firstRowAt(q.from);
    const hi = q.to === undefined ? table.length : Math.max(lo, table.firstRowAt(q.to));
    const points = hi > lo && table.buckets[lo] === table.buckets[hi - 1] ? pointCodes(table, q) : undefined;
    if (points) {
      // Every dimension named by where, in one bucket (an entity view's lookup): the rows are
      // sorted by their codes, so each combination is one binary search, not a scan.
      this.stats.pointLookups++;
      const found: number[] = [];
      for (const codes of points) {
        const row = findRow(table, codes, lo, hi);
        if (row >= 0) found.push(row);
      }
      found.sort((a, b) => a - b);
      const selected = Int32Array.from(found);
      return { table, rows: selected, lo: 0, count: selected.length, first: selected.length > 0 ? table.buckets[selected[0]!]! : Infinity };
    }
    const masks = filterMasks(table, q);
    if (masks === null) return { table, lo, count: 0, first: Infinity };
    if (masks.length === 0) return { table, lo, count: hi - lo, first: hi > lo ? table.buckets[lo]! : Infinity };
    this.stats.rowsScanned += hi - lo;
    const rows = new Int32Builder(1_024);
    for (let row = lo; row < hi; row++) {
      if (((row - lo) & this.#mask) === this.#mask) await this.#step(budget);
      if (passes(masks, row)) rows.push(row);
    }
    const selected = rows.finish();
    return { table, rows: selected, lo: 0, count: selected.length, first: selected.length > 0 ? table.buckets[selected[0]!]! : Infinity };
  }

  /** The table rolled up to the query's shape (kept per table and shape in the cache). */
  async #rolled(view: CompiledView, table: ColumnTable, q: ViewQuery, budget: Budget): Promise<Part> {
    const build = async () => {
      const part = await this.#select(table, q, budget);
      budget.touch(part.count);
      const rolled = await this.#rollUp(view, part, q, budget);
      return { value: { table: rolled, lo: 0, count: rolled.length, first: part.first } satisfies Part, bytes: rolled.length === 0 ? 64 : rolled.arrayBytes };
    };
    if (table.length < this.#cacheMinRows) return (await build()).value;
    const filters = (m: ReadonlyMap<number, DimFilter>) => [...m].map(([i, f]) => [i, [...f.values].sort(), f.null]).sort();
    const key = `roll ${table.id} ${JSON.stringify([q.from, q.to, q.granularity, q.groupBy, filters(q.where), filters(q.whereNot)])}`;
    return this.#cache.get(key, build);
  }

  async #rollUp(view: CompiledView, part: Part, q: ViewQuery, budget: Budget): Promise<ColumnTable> {
    const { table } = part;
    const all = q.granularity === 'all';
    const same = !all && Granularities[q.granularity as Granularity] === Granularities[view.def.granularity];
    const codes = q.groupBy.map((d) => table.codes[d]!);
    const cards = q.groupBy.map((d) => table.dictionaries[d]!.length + 1);
    // A group's key as one number where it fits (bucket run, then each code), else as text.
    let span = 1;
    for (const c of cards) span *= c;
    const numeric = span * (part.count + 1) < 2 ** 52;
    const slots = new Map<number | string, number>();
    const slotBuckets: number[] = [];
    const slotKeys: Array<number | string> = [];
    const slotRows: number[] = [];
    const states: unknown[][] = view.measures.map(() => []);
    let run = -1;
    let runBucket = NaN;
    for (let k = 0; k < part.count; k++) {
      if ((k & this.#mask) === this.#mask) await this.#step(budget);
      const row = rowAt(part, k);
      const source = table.buckets[row]!;
      const bucket = all ? 0 : same ? source : bucketOf(source, q.granularity as Granularity);
      // Rows are in bucket order and a coarser bucket is monotone in it: buckets come in runs.
      if (bucket !== runBucket) {
        run++;
        runBucket = bucket;
      }
      let key: number | string;
      if (numeric) {
        let n = run;
        for (let i = 0; i < codes.length; i++) {
          const c = codes[i]![row]!;
          n = n * cards[i]! + (c === NULL_CODE ? cards[i]! - 1 : c);
        }
        key = n;
      } else {
        key = `${run} ${codes.map((c) => c[row]!).join(' ')}`;
      }
      const slot = slots.get(key);
      if (slot === undefined) {
        slots.set(key, slotBuckets.length);
        slotBuckets.push(bucket);
        slotKeys.push(key);
        slotRows.push(row);
        for (let m = 0; m < states.length; m++) states[m]!.push(table.columns[m]!.state(row));
      } else {
        for (let m = 0; m < states.length; m++) states[m]![slot] = table.columns[m]!.absorbInto(states[m]![slot], row);
      }
    }
    const n = slotBuckets.length;
    const order = Int32Array.from({ length: n }, (_, i) => i);
    if (numeric) order.sort((a, b) => (slotKeys[a] as number) - (slotKeys[b] as number));
    else {
      order.sort((a, b) => {
        if (slotBuckets[a] !== slotBuckets[b]) return slotBuckets[a]! - slotBuckets[b]!;
        for (const c of codes) if (c[slotRows[a]!] !== c[slotRows[b]!]) return c[slotRows[a]!]! - c[slotRows[b]!]!;
        return 0;
      });
    }
    const buckets = new Float64Builder(n);
    const outCodes = codes.map(() => new Int32Builder(n));
    const builders = view.columns.map((c) => c.builder(n));
    for (const slot of order) {
      buckets.push(slotBuckets[slot]!);
      codes.forEach((c, i) => outCodes[i]!.push(c[slotRows[slot]!]!));
      for (let m = 0; m < builders.length; m++) builders[m]!.push(states[m]![slot]);
    }
    return new ColumnTable(
      view,
      buckets.finish(),
      outCodes.map((c) => c.finish()),
      q.groupBy.map((d) => table.dictionaries[d]!),
      builders.map((b) => b.finish()),
    );
  }

  /**
   * Where each selected row of `other` is in the skeleton's table: its row there, or -1.
   * Both tables are sorted by bucket then values, so for a whole table each dimension's codes
   * map by one walk of the two dictionaries and each row by a search from where the previous
   * one was found, and that map is kept per pair of tables; a few selected rows of a large
   * table (one group) are looked up one by one instead.
   */
  async #mapping(skeleton: ColumnTable, other: Part, ignoreBuckets: boolean, budget: Budget): Promise<Int32Array> {
    const target = other.table;
    const dims = skeleton.codes.length;
    const probe = new Int32Array(dims);
    /** Skeleton row i against the probe (`bucket`, then `probe`'s codes). */
    const compare = (i: number, bucket: number): number => {
      if (!ignoreBuckets) {
        const b = skeleton.buckets[i]! - bucket;
        if (b !== 0) return b;
      }
      for (let d = 0; d < dims; d++) {
        const c = skeleton.codes[d]![i]! - probe[d]!;
        if (c !== 0) return c;
      }
      return 0;
    };
    const locate = (row: number, lo: number): number => {
      const bucket = target.buckets[row]!;
      let l = lo;
      let h = skeleton.length;
      while (l < h) {
        const mid = (l + h) >>> 1;
        if (compare(mid, bucket) < 0) l = mid + 1;
        else h = mid;
      }
      return l < skeleton.length && compare(l, bucket) === 0 ? l : -l - 2; // not found: -(insertion point) - 2
    };
    if (other.count * 16 < target.length) {
      const out = new Int32Array(other.count);
      for (let k = 0; k < other.count; k++) {
        const row = rowAt(other, k);
        let absent = false;
        for (let d = 0; d < dims && !absent; d++) {
          probe[d] = skeleton.codeOf(d, target.value(d, row));
          absent = probe[d] === -1;
        }
        out[k] = absent ? -1 : Math.max(-1, locate(row, 0));
      }
      return out;
    }
    const build = async () => {
      const codeMaps = Array.from({ length: dims }, (_, d) => mapCodes(target.dictionaries[d]!, skeleton.dictionaries[d]!));
      const map = new Int32Array(target.length);
      let lo = 0;
      for (let row = 0; row < target.length; row++) {
        if ((row & this.#mask) === this.#mask) await this.#step(budget);
        let absent = false;
        for (let d = 0; d < dims; d++) {
          const c = target.codes[d]![row]!;
          probe[d] = c === NULL_CODE ? NULL_CODE : codeMaps[d]![c]!;
          if (probe[d] === -1) absent = true;
        }
        if (absent) {
          map[row] = -1;
          continue;
        }
        const at = locate(row, lo);
        map[row] = Math.max(-1, at);
        // Rows of `other` come in the skeleton's order: the next one is at or after here.
        lo = at >= 0 ? at : -at - 2;
      }
      return { value: map, bytes: map.byteLength };
    };
    const whole = target.length < this.#cacheMinRows ? (await build()).value : await this.#cache.get(`map ${skeleton.id} ${target.id} ${ignoreBuckets}`, build);
    if (other.rows) return Int32Array.from(other.rows, (row) => whole[row]!);
    return other.lo === 0 && other.count === whole.length ? whole : whole.subarray(other.lo, other.lo + other.count);
  }

  /**
   * The answer's groups after `having`, in the asked order, as far as offset + limit: skeleton
   * rows as their index, extras as -(index + 1). A top-N keeps a bounded heap; the default
   * order takes the skeleton's own (it is sorted so) and merges the extras in.
   */
  async #rank(view: CompiledView, skeleton: Part, accs: ReadonlyMap<number, Accumulator>, extras: Extra[], q: ViewQuery, budget: Budget): Promise<{ page: number[]; groups: number }> {
    const table = skeleton.table;
    const all = q.granularity === 'all';
    const resultOf = (c: number, m: number): unknown => {
      if (c >= 0) {
        const acc = accs.get(m);
        return acc ? acc.result(c) : table.columns[m]!.result(c);
      }
      const e = extras[-c - 1]!;
      e.results ??= [];
      if (!(m in e.results)) e.results[m] = view.measures[m]!.result(e.states[m]);
      return e.results[m];
    };
    const numberOf = (c: number, m: number, qk?: string): number | null => {
      const r = resultOf(c, m) as number | Record<string, number | null> | null;
      if (qk !== undefined) return r === null ? null : ((r as Record<string, number | null>)[qk] ?? null);
      return typeof r === 'number' ? r : null;
    };
    const bucketAt = (c: number): number => (all ? 0 : c >= 0 ? table.buckets[c]! : extras[-c - 1]!.bucket);
    const dimAt = (c: number, j: number): string | null => (c >= 0 ? table.value(j, c) : extras[-c - 1]!.dims[j]!);
    const compareDim = (a: number, b: number, j: number, desc: boolean): number => {
      if (a >= 0 && b >= 0) {
        const ca = table.codes[j]![a]!;
        const cb = table.codes[j]![b]!;
        if (ca === cb) return 0;
        if (ca === NULL_CODE) return 1;
        if (cb === NULL_CODE) return -1;
        return desc ? cb - ca : ca - cb;
      }
      return compareValues(dimAt(a, j), dimAt(b, j), desc);
    };
    const natural = (a: number, b: number): number => {
      const ba = bucketAt(a);
      const bb = bucketAt(b);
      if (ba !== bb) return ba - bb;
      for (let j = 0; j < q.groupBy.length; j++) {
        const c = compareDim(a, b, j, false);
        if (c !== 0) return c;
      }
      return 0;
    };
    const compareKey = (a: number, b: number, key: OrderKey): number => {
      if (key.kind === 'bucket') return compareValues(bucketAt(a), bucketAt(b), key.desc);
      if (key.kind === 'dimension') return compareDim(a, b, key.index, key.desc);
      return compareValues(numberOf(a, key.index, key.q), numberOf(b, key.index, key.q), key.desc);
    };
    const compare = (a: number, b: number): number => {
      for (const key of q.orderBy) {
        const c = compareKey(a, b, key);
        if (c !== 0) return c;
      }
      return natural(a, b);
    };
    const keep = (c: number): boolean => {
      for (const h of q.having) {
        const v = numberOf(c, h.measure, h.q);
        // A null result compares as SQL's NULL does: the group is dropped.
        if (v === null || !OPS[h.op](v, h.value)) return false;
      }
      return true;
    };

    const wanted = q.offset + q.limit;
    const extraIds = extras.map((_, i) => -(i + 1)).filter(keep);
    // Skeleton rows, with having applied, in the skeleton's (natural) order.
    // In an Int32Array: a million candidates are 4 MB off the heap, not work for the collector.
    const kept = new Int32Array(skeleton.count + extraIds.length);
    let n = 0;
    for (let k = 0; k < skeleton.count; k++) {
      if ((k & this.#mask) === this.#mask) await this.#step(budget);
      const row = rowAt(skeleton, k);
      if (q.having.length === 0 || keep(row)) kept[n++] = row;
    }
    const candidates = kept.subarray(0, n);
    const groups = candidates.length + extraIds.length;
    if (q.orderBy.length === 0) {
      // The default order: the skeleton's own, with the extras merged in where they belong.
      extraIds.sort(natural);
      const page: number[] = [];
      let i = 0;
      let j = 0;
      while (page.length < wanted && (i < candidates.length || j < extraIds.length)) {
        if (j >= extraIds.length || (i < candidates.length && natural(candidates[i]!, extraIds[j]!) <= 0)) page.push(candidates[i++]!);
        else page.push(extraIds[j++]!);
      }
      return { page: page.slice(q.offset), groups };
    }
    kept.set(extraIds, n);
    const everything = kept.subarray(0, groups);
    if (wanted * 8 >= everything.length) return { page: [...everything.sort(compare).subarray(q.offset, wanted)], groups };
    const lead = q.orderBy[0]!;
    let leadOf: ((c: number) => number | null) | undefined;
    if (lead.kind === 'measure') {
      // A numeric lead read straight from the merged values (a call per candidate otherwise).
      const nums = lead.q === undefined ? accs.get(lead.index)?.numbers?.() : undefined;
      if (nums) {
        const { values, nulls } = nums;
        leadOf = (c) => (c < 0 ? numberOf(c, lead.index) : nulls !== undefined && nulls[c] === 1 ? null : values[c]!);
      } else leadOf = (c) => numberOf(c, lead.index, lead.q);
    }
    return { page: (await this.#top(everything, wanted, compare, leadOf, lead.desc, budget)).slice(q.offset), groups };
  }

  /**
   * The `k` first of `items` by `compare`: a max-heap of `k`, one pass. With a numeric lead
   * key, an item whose key is plainly worse than the heap's worst is skipped without the full
   * comparison (a top-N of a million groups compares numbers, mostly).
   */
  async #top(items: Int32Array, k: number, compare: (a: number, b: number) => number, lead: ((c: number) => number | null) | undefined, desc: boolean, budget: Budget): Promise<number[]> {
    const heap: number[] = [];
    const up = (i: number) => {
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (compare(heap[i]!, heap[parent]!) <= 0) return;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    };
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let top = i;
        if (l < heap.length && compare(heap[l]!, heap[top]!) > 0) top = l;
        if (r < heap.length && compare(heap[r]!, heap[top]!) > 0) top = r;
        if (top === i) return;
        [heap[i], heap[top]] = [heap[top]!, heap[i]!];
        i = top;
      }
    };
    let worst: number | null = null;
    for (let n = 0; n < items.length; n++) {
      if ((n & this.#mask) === this.#mask) await this.#step(budget);
      const item = items[n]!;
      if (heap.length < k) {
        heap.push(item);
        up(heap.length - 1);
        worst = lead ? lead(heap[0]!) : null;
        continue;
      }
      if (k === 0) break;
      if (lead && worst !== null) {
        const v = lead(item);
        // nulls sort last: a null never beats a number; a number strictly worse is skipped
        if (v === null || (desc ? v < worst : v > worst)) continue;
      }
      if (compare(item, heap[0]!) < 0) {
        heap[0] = item;
        down(0);
        worst = lead ? lead(heap[0]!) : null;
      }
    }
    return heap.sort(compare);
  }

  /** The page's rows: each group's states merged from every table that holds it, then the results. */
  async #materialize(
    view: CompiledView,
    skeleton: Part,
    others: readonly Part[],
    maps: readonly Int32Array[],
    accs: ReadonlyMap<number, Accumulator>,
    extras: readonly Extra[],
    ranked: { page: number[]; groups: number },
    q: ViewQuery,
    first: number,
    budget: Budget,
  ): Promise<Answered> {
    const { measures, measureNames, def } = view;
    const table = skeleton.table;
    const pageRows = new Map<number, unknown[]>();
    for (const c of ranked.page) {
      if (c >= 0) pageRows.set(c, measures.map((_, m) => accs.get(m)?.state(c) ?? table.columns[m]!.state(c)));
    }
    if (pageRows.size > 0) {
      for (let o = 0; o < others.length; o++) {
        const other = others[o]!;
        const map = maps[o]!;
        for (let k = 0; k < other.count; k++) {
          if ((k & this.#mask) === this.#mask) await this.#step(budget);
          const states = pageRows.get(map[k]!);
          if (!states) continue;
          const row = rowAt(other, k);
          for (let m = 0; m < measures.length; m++) if (!accs.has(m)) states[m] = other.table.columns[m]!.absorbInto(states[m], row);
        }
      }
    }
    const all = q.granularity === 'all';
    const allBucket = q.from ?? (Number.isFinite(first) ? first : 0);
    const rows = ranked.page.map((c): AnswerRow => {
      const bucket = all ? allBucket : c >= 0 ? table.buckets[c]! : extras[-c - 1]!.bucket;
      const dims = c >= 0 ? table.dims(c) : extras[-c - 1]!.dims;
      const states = c >= 0 ? pageRows.get(c)! : extras[-c - 1]!.states;
      const out: AnswerRow = { bucket: def.granularity === 'none' ? null : new Date(bucket).toISOString() };
      q.groupBy.forEach((dimIndex, j) => {
        out[def.dimensions[dimIndex]!] = dims[j] ?? null;
      });
      measureNames.forEach((name, m) => {
        out[name] = measures[m]!.result(states[m]);
      });
      return out;
    });
    return { rows, groups: ranked.groups, truncated: q.offset + q.limit < ranked.groups };
  }
}

const OPS: Record<HavingOp, (a: number, b: number) => boolean> = {
  gt: (a, b) => a > b,
  gte: (a, b) => a >= b,
  lt: (a, b) => a < b,
  lte: (a, b) => a <= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};

/** Compares two values of a key: nulls last whichever the direction. */
function compareValues(a: string | number | null, b: string | number | null, desc: boolean): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const c = a < b ? -1 : 1;
  return desc ? -c : c;
}

/** A filter on one dimension of a table: `pass[code]` (null at `nullIndex`) is 1 when the value passes. */
interface Mask {
  readonly codes: Int32Array;
  readonly pass: Uint8Array;
  readonly nullIndex: number;
}

/** The table's masks for the query's where and where_not; null when no row can pass; [] when nothing is filtered. */
/**
 * The code combinations of a point lookup: every dimension of the table filtered by `where`
 * to a few values (nulls included), no `where_not`; undefined when the query is not one. A
 * value the table does not hold drops its combinations.
 */
function pointCodes(table: ColumnTable, q: ViewQuery): Int32Array[] | undefined {
  const dims = table.codes.length;
  if (dims === 0 || q.where.size !== dims || q.whereNot.size > 0) return undefined;
  let combos: number[][] = [[]];
  for (let d = 0; d < dims; d++) {
    const f = q.where.get(d);
    if (!f) return undefined;
    const codes = [...f.values].map((v) => table.codeOf(d, v)).filter((c) => c >= 0);
    if (f.null) codes.push(NULL_CODE);
    if (combos.length * Math.max(1, codes.length) > MAX_POINTS) return undefined;
    combos = combos.flatMap((c) => codes.map((code) => [...c, code]));
  }
  return combos.map((c) => Int32Array.from(c));
}

/** The row in [lo, hi) (one bucket, rows in code order) whose codes are `codes`, or -1. */
function findRow(table: ColumnTable, codes: Int32Array, lo: number, hi: number): number {
  const compare = (row: number): number => {
    for (let d = 0; d < codes.length; d++) {
      const c = table.codes[d]![row]! - codes[d]!;
      if (c !== 0) return c;
    }
    return 0;
  };
  let l = lo;
  let h = hi;
  while (l < h) {
    const mid = (l + h) >>> 1;
    if (compare(mid) < 0) l = mid + 1;
    else h = mid;
  }
  return l < hi && compare(l) === 0 ? l : -1;
}

function filterMasks(table: ColumnTable, q: ViewQuery): Mask[] | null {
  const masks: Mask[] = [];
  const mask = (dim: number, fill: 0 | 1): Mask => {
    const nullIndex = table.dictionaries[dim]!.length;
    return { codes: table.codes[dim]!, pass: new Uint8Array(nullIndex + 1).fill(fill), nullIndex };
  };
  for (const [dim, f] of q.where) {
    const m = mask(dim, 0);
    let any = f.null;
    if (f.null) m.pass[m.nullIndex] = 1;
    for (const v of f.values) {
      const c = table.codeOf(dim, v);
      if (c >= 0) {
        m.pass[c] = 1;
        any = true;
      }
    }
    if (!any) return null;
    masks.push(m);
  }
  for (const [dim, f] of q.whereNot) {
    // A missing (null) dimension equals none of the listed values: it is kept, unless null is listed.
    const m = mask(dim, 1);
    if (f.null) m.pass[m.nullIndex] = 0;
    for (const v of f.values) {
      const c = table.codeOf(dim, v);
      if (c >= 0) m.pass[c] = 0;
    }
    masks.push(m);
  }
  return masks;
}

function passes(masks: readonly Mask[], row: number): boolean {
  for (const m of masks) {
    const code = m.codes[row]!;
    if (m.pass[code === NULL_CODE ? m.nullIndex : code] !== 1) return false;
  }
  return true;
}

/**
 * For each value of `from` (sorted), its code in `to` (sorted), or -1: a walk of both when
 * they are of like size, a search per value when `from` is much the smaller.
 */
function mapCodes(from: readonly string[], to: readonly string[]): Int32Array {
  const out = new Int32Array(from.length).fill(-1);
  if (from.length * 20 < to.length) {
    let lo = 0;
    for (let i = 0; i < from.length; i++) {
      lo = lowerBound(to, from[i]!, lo);
      if (lo < to.length && to[lo] === from[i]) out[i] = lo;
    }
    return out;
  }
  let j = 0;
  for (let i = 0; i < from.length; i++) {
    while (j < to.length && to[j]! < from[i]!) j++;
    if (j < to.length && to[j] === from[i]) out[i] = j;
  }
  return out;
}
