import type { StoredEvent } from '../events/index.js';
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
 * The aggregates of one view over some set of records: the one structure that the speed
 * layer, a Kappa replay and a loaded batch version all hold, and that a query merges.
 */
export class ViewTable {
  readonly view: CompiledView;
  readonly rows = new Map<string, ViewRow>();

  constructor(view: CompiledView) {
    this.view = view;
  }

  /** Folds one (non-duplicate) event in, if it belongs to the view. */
  add(event: StoredEvent): void {
    const view = this.view;
    if (!view.matches(event)) return;
    const bucket = bucketOf(event.time, view.def.granularity);
    const dims = view.dimensionReaders.map((read) => dimensionValue(read(event)));
    const row = this.#row(bucket, dims);
    const { measures, measureInputs } = view;
    for (let i = 0; i < measures.length; i++) {
      const input = measureInputs[i];
      row.states[i] = measures[i]!.add(row.states[i], input ? input(event) : undefined);
    }
  }

  /** Merges a group's states in (from a batch version, or another table). */
  mergeRow(bucket: number, dims: readonly (string | null)[], states: readonly unknown[]): void {
    const row = this.#row(bucket, dims);
    const { measures } = this.view;
    for (let i = 0; i < measures.length; i++) row.states[i] = measures[i]!.absorb(row.states[i], states[i]);
  }

  #row(bucket: number, dims: readonly (string | null)[]): ViewRow {
    const key = groupKey(bucket, dims);
    let row = this.rows.get(key);
    if (!row) {
      row = { bucket, dims, states: this.view.measures.map((m) => m.init()) };
      this.rows.set(key, row);
    }
    return row;
  }

  get size(): number {
    return this.rows.size;
  }
}
