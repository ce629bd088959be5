import type { Position } from '../log/position.js';
import type { ColumnTable } from './columns.js';

/**
 * A published batch version, loaded: the states of every view over the records below its
 * `snapshot` S. What `source=batch` answers from, and what the speed layer pairs with.
 */
export interface BatchVersion {
  readonly version: number;
  /** S: the version covers exactly the non-duplicate records below it */
  readonly snapshot: Position;
  readonly createdAt: string;
  /** view name → its states, computed with the definition the table's `view` holds */
  readonly tables: ReadonlyMap<string, ColumnTable>;
}
