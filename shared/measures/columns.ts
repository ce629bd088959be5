/**
 * How an immutable table (a loaded batch version, a sealed speed segment, a roll-up kept
 * for a query shape) stores one measure's states: one column per measure, rows by index,
 * in typed arrays where the kind allows (shared/views/columns.ts holds the table). A state
 * read back is exactly the state stored: the column is a storage form, not a new engine.
 */

/** The states of one measure for the rows of an immutable table. */
export interface StateColumn<S = unknown> {
  readonly length: number;
  /** bytes the column holds (typed arrays and packed sketches) */
  readonly bytes: number;
  /** the row's state, as the measure holds it: a fresh value the caller owns */
  state(row: number): S;
  /** folds the row's state into `into` (the caller's own, as Measure.absorb) and returns it */
  absorbInto(into: S, row: number): S;
  /** the row's result, as Measure.result of its state */
  result(row: number): unknown;
  /** merged states over this column's rows, starting as the rows' own (see Accumulator) */
  accumulator(): Accumulator<S>;
  /** the column's contents as plain data (its form's `fromParts` rebuilds it): what a worker thread is sent */
  parts(): ColumnParts;
}

/**
 * A column's contents as plain data — typed arrays, arrays, maps of plain values — that
 * structured clone carries to a worker thread (serving/query/threads.ts) unchanged.
 */
export type ColumnParts = Readonly<Record<string, unknown>>;

/**
 * Per row of a column, the row's state with other tables' states absorbed into it: how a
 * query merges the groups of its other sources onto its largest one without a state object
 * per group. Numeric kinds keep a copy of their typed array, made on the first absorb.
 */
export interface Accumulator<S = unknown> {
  /** absorbs row `row` of `from` (a column of the same measure) into slot `slot` */
  absorb(slot: number, from: StateColumn<S>, row: number): void;
  result(slot: number): unknown;
  /** the slot's merged state: a fresh value the caller owns */
  state(slot: number): S;
  /**
   * For kinds whose result is the state, a number or null: every slot's merged value
   * (`nulls[slot] === 1` for null), for reading a million of them without a call each.
   */
  numbers?(): { readonly values: Float64Array; readonly nulls: Uint8Array | undefined };
}

/** A numeric column's arrays: what another numeric column of its measure absorbs from directly. */
const numericArrays = new WeakMap<StateColumn<any>, { values: Float64Array; nulls: Uint8Array | undefined }>();

/** Appends states row by row; `finish` makes the column. */
export interface ColumnBuilder<S = unknown> {
  push(state: S): void;
  /** appends row `row` of `from` (a column of the same measure) as it is */
  pushFrom(from: StateColumn<S>, row: number): void;
  finish(): StateColumn<S>;
}

/** A kind's column form: what `MeasureKind.columns` returns for one spec. */
export interface ColumnForm<S = unknown> {
  builder(capacity?: number): ColumnBuilder<S>;
  /** the column whose `parts()` these are (from this form, maybe in another thread) */
  fromParts(parts: ColumnParts): StateColumn<S>;
}

/** A growable typed array, trimmed by `finish`. */
class Growable<A extends Float64Array | Int32Array> {
  #data: A;
  readonly #make: (length: number) => A;
  length = 0;

  constructor(make: (length: number) => A, capacity = 1_024) {
    this.#make = make;
    this.#data = make(Math.max(16, capacity));
  }

  push(x: number): void {
    if (this.length === this.#data.length) {
      const bigger = this.#make(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.length++] = x;
  }

  finish(): A {
    return (this.#data.length === this.length ? this.#data : this.#data.slice(0, this.length)) as A;
  }
}

export class Float64Builder extends Growable<Float64Array> {
  constructor(capacity?: number) {
    super((n) => new Float64Array(n), capacity);
  }
}

export class Int32Builder extends Growable<Int32Array> {
  constructor(capacity?: number) {
    super((n) => new Int32Array(n), capacity);
  }
}

/**
 * A state that is one number or null (count, sum, min, max): a Float64Array, and for the
 * nullable kinds a byte per row saying whether the state is null (NaN cannot stand for null:
 * a sum of finite numbers can overflow to Infinity and then to NaN).
 */
export function numberColumns(combine: (a: number, b: number) => number, nullable: boolean): ColumnForm<number | null> {
  const column = (values: Float64Array, nulls: Uint8Array | undefined): StateColumn<number | null> => {
    const at = (row: number): number | null => (nulls && nulls[row] === 1 ? null : values[row]!);
    const self: StateColumn<number | null> = {
      length: values.length,
      bytes: values.byteLength + (nulls?.byteLength ?? 0),
      state: at,
      absorbInto: (into, row) => {
        const b = at(row);
        return into === null ? b : b === null ? into : combine(into, b);
      },
      result: at,
      accumulator: () => {
        let own: Float64Array | undefined;
        let ownNulls: Uint8Array | undefined;
        const copy = () => {
          own = values.slice();
          ownNulls = nulls?.slice();
        };
        const slotAt = (slot: number): number | null => (own ? (ownNulls && ownNulls[slot] === 1 ? null : own[slot]!) : at(slot));
        return {
          absorb(slot, from, row) {
            if (!own) copy();
            const arrays = numericArrays.get(from);
            if (arrays) {
              // the same kind's column: its arrays, without a call per row
              if (arrays.nulls && arrays.nulls[row] === 1) return;
              const b = arrays.values[row]!;
              if (ownNulls && ownNulls[slot] === 1) {
                own![slot] = b;
                ownNulls[slot] = 0;
              } else own![slot] = combine(own![slot]!, b);
              return;
            }
            const b = from.state(row);
            if (b === null) return;
            const a = slotAt(slot);
            own![slot] = a === null ? b : combine(a, b);
            if (ownNulls) ownNulls[slot] = 0;
          },
          result: slotAt,
          state: slotAt,
          numbers: () => ({ values: own ?? values, nulls: own ? ownNulls : nulls }),
        };
      },
      parts: () => ({ values, nulls }),
    };
    numericArrays.set(self, { values, nulls });
    return self;
  };
  return {
    builder(capacity) {
      const values = new Float64Builder(capacity);
      const nulls: number[] | undefined = nullable ? [] : undefined;
      const push = (s: number | null) => {
        if (s === null && !nulls) throw new Error('a null state in a column of a kind without null');
        values.push(s ?? 0);
        nulls?.push(s === null ? 1 : 0);
      };
      return {
        push,
        pushFrom: (from, row) => push(from.state(row)),
        finish: () => column(values.finish(), nulls ? Uint8Array.from(nulls) : undefined),
      };
    },
    fromParts: (parts) => column(parts.values as Float64Array, parts.nulls as Uint8Array | undefined),
  };
}

/**
 * An accumulator that keeps a merged state per slot absorbed into, in a map: for kinds whose
 * states are objects (sketches), where a query touches few of the slots.
 */
export function mapAccumulator<S>(measure: { merge(a: S, b: S): S; init(): S; result(s: S): unknown }, column: StateColumn<S>): Accumulator<S> {
  const merged = new Map<number, S>();
  return {
    absorb(slot, from, row) {
      const s = merged.get(slot) ?? column.state(slot);
      merged.set(slot, from.absorbInto(s, row));
    },
    result: (slot) => {
      const s = merged.get(slot);
      return s === undefined ? column.result(slot) : measure.result(s);
    },
    state: (slot) => {
      const s = merged.get(slot);
      return s === undefined ? column.state(slot) : measure.merge(measure.init(), s);
    },
  };
}

/**
 * States kept as they are, one object per row: for the kinds whose states are small
 * records (latest, first, values, topk). `copy` makes the fresh value `state` returns.
 */
export function objectColumns<S>(measure: { merge(a: S, b: S): S; absorb(into: S, from: S): S; init(): S; result(s: S): unknown }, copy: (s: S) => S, bytesOf: (s: S) => number): ColumnForm<S> {
  const column = (states: S[]): StateColumn<S> => {
    let bytes = 0;
    for (const s of states) bytes += bytesOf(s);
    const self: StateColumn<S> = {
      length: states.length,
      bytes,
      state: (row) => copy(states[row]!),
      absorbInto: (into, row) => measure.absorb(into, states[row]!),
      result: (row) => measure.result(states[row]!),
      accumulator: () => mapAccumulator(measure, self),
      parts: () => ({ states }),
    };
    return self;
  };
  return {
    builder() {
      const states: S[] = [];
      return { push: (s) => void states.push(copy(s)), pushFrom: (from, row) => void states.push(from.state(row)), finish: () => column(states) };
    },
    fromParts: (parts) => column(parts.states as S[]),
  };
}
