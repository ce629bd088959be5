import type { StoredEvent } from '../events/index.js';
import { kindOf, measureOf, type Measure } from '../measures/index.js';
import type { ColumnForm } from '../measures/columns.js';
import { definitionVersion, type ViewDefinition } from './definition.js';
import { dimensionValue, pathReader } from './paths.js';

/** A view ready to fold events: paths compiled to readers, measures resolved, once. */
export interface CompiledView {
  readonly def: ViewDefinition;
  readonly version: string;
  readonly measureNames: readonly string[];
  readonly measures: readonly Measure<any, unknown>[];
  /** per measure, how an immutable table stores its states (shared/views/columns.ts) */
  readonly columns: readonly ColumnForm[];
  /** per measure, the reader of its input (count reads nothing) */
  readonly measureInputs: ReadonlyArray<((e: StoredEvent) => unknown) | undefined>;
  readonly dimensionReaders: ReadonlyArray<(e: StoredEvent) => unknown>;
  /** every path the view reads (dimensions, where, measure inputs): what a fold must decode */
  readonly paths: readonly string[];
  /** whether an event belongs to the view (type and where) */
  matches(event: StoredEvent): boolean;
}

export function compileView(def: ViewDefinition): CompiledView {
  const types = new Set(def.events);
  const where = Object.entries(def.where).map(([path, values]) => ({ read: pathReader(path), values: new Set(values) }));
  const measureNames = Object.keys(def.measures);
  const specs = measureNames.map((n) => def.measures[n]!);
  return {
    def,
    version: definitionVersion(def),
    measureNames,
    measures: specs.map(measureOf),
    columns: specs.map((s) => kindOf(s).columns(s)),
    measureInputs: specs.map((s) => ('path' in s ? pathReader(s.path) : undefined)),
    dimensionReaders: def.dimensions.map(pathReader),
    paths: [...new Set([...def.dimensions, ...Object.keys(def.where), ...specs.flatMap((s) => ('path' in s ? [s.path] : []))])],
    matches(event) {
      if (!types.has(event.type)) return false;
      for (const w of where) {
        const v = dimensionValue(w.read(event));
        if (v === null || !w.values.has(v)) return false;
      }
      return true;
    },
  };
}

/** Names a view's definition: `name@version`. Two definitions of one view can be held side by side. */
export function viewKey(view: CompiledView): string {
  return `${view.def.name}@${view.version}`;
}
