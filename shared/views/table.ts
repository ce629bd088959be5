import type { StoredEvent } from '../events/index.js';
import type { Measure, Place } from '../measures/index.js';
import { bucketOf } from './definition.js';
import type { CompiledView } from './compiled.js';
import { dimensionValue } from './paths.js';

/** One group of a view: a time bucket, the dimension values, and one state per measure. */
export interface ViewRow {
  readonly bucket: number;
  readonly dims: readonly (string | null)[];
  states: unknown[];
}

export function groupKey(bucket: number, dims: readonly (string | null)[]): string {
  return `${bucket}\u0000${JSON.stringify(dims)}`;
}

/**
 * The one merge of groups: `into`'s states absorb `from`'s, measure by measure (in place,
 * `into` is the caller's own; `from` is never changed). The speed layer's compaction, a
 * query's roll-up and verification all merge through this.
 */
export function absorbStates(measures: readonly Measure<any, unknown>[], into: unknown[], from: readonly unknown[]): void {
  for (let i = 0; i < measures.length; i++) into[i] = measures[i]!.absorb(into[i], from[i]);
}

/**
 * Groups keyed by (bucket, dimension values), each holding one state per measure: what a
 * fold, a loaded batch version, a roll-up and a comparison fill.
 */
export class GroupTable {
  readonly measures: readonly Measure<any, unknown>[];
  readonly rows = new Map<string, ViewRow>();

  constructor(measures: readonly Measure<any, unknown>[]) {
    this.measures = measures;
  }

  /** The group, created with every state at its identity when it is not there yet. */
  group(bucket: number, dims: readonly (string | null)[]): ViewRow {
    const key = groupKey(bucket, dims);
    let row = this.rows.get(key);
    if (!row) {
      row = { bucket, dims, states: this.measures.map((m) => m.init()) };
      this.rows.set(key, row);
    }
    return row;
  }

  /** Merges a group's states in; `states` is not changed. */
  mergeRow(bucket: number, dims: readonly (string | null)[], states: readonly unknown[]): void {
    absorbStates(this.measures, this.group(bucket, dims).states, states);
  }

  /** Merges every row of `sources` in. */
  mergeAll(sources: Iterable<Iterable<ViewRow>>): this {
    for (const source of sources) for (const row of source) this.mergeRow(row.bucket, row.dims, row.states);
    return this;
  }

  get size(): number {
    return this.rows.size;
  }
}

/**
 * The aggregates of one view over some set of records: the one structure that the speed
 * layer, a Kappa replay and a loaded batch version all hold, and that a query merges.
 */
export class ViewTable extends GroupTable {
  readonly view: CompiledView;
  /**
   * The fold's way to a group (issue 13): bucket, then each dimension's value, as nested maps,
   * so that adding an event to an existing group allocates no key (the `rows` key, a string of
   * the bucket and the dimensions as JSON, is built once, when the group is created). Rows are
   * never removed, so an entry here stays the row `rows` holds.
   */
  readonly #index = new Map<unknown, unknown>();
  readonly #dims: (string | null)[];

  constructor(view: CompiledView) {
    super(view.measures);
    this.view = view;
    this.#dims = view.dimensionReaders.map(() => null);
  }

  /**
   * Folds one (non-duplicate) event in, if it belongs to the view; `at` is its record's place
   * (partition, offset), and `place` the same with the event's time when the caller has made it
   * once for every view (the fold does).
   */
  add(event: StoredEvent, at: { readonly partition: number; readonly offset: number }, place?: Place): void {
    const view = this.view;
    if (!view.matches(event)) return;
    const bucket = bucketOf(event.time, view.def.granularity);
    const readers = view.dimensionReaders;
    const dims = this.#dims;
    let node = this.#index;
    let key: unknown = bucket;
    for (let d = 0; d < readers.length; d++) {
      let next = node.get(key) as Map<unknown, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(key, next);
      }
      node = next;
      key = dims[d] = dimensionValue(readers[d]!(event));
    }
    let row = node.get(key) as ViewRow | undefined;
    if (row === undefined) {
      row = this.group(bucket, dims.slice());
      node.set(key, row);
    }
    const { measures, measureInputs } = view;
    const where = place ?? { time: event.time, partition: at.partition, offset: at.offset };
    for (let i = 0; i < measures.length; i++) {
      const input = measureInputs[i];
      row.states[i] = measures[i]!.add(row.states[i], input ? input(event) : undefined, where);
    }
  }
}
