/**
 * A DDSketch-style quantile sketch: values fall into logarithmic buckets with relative
 * accuracy ALPHA = 1 %, so a quantile is reported within 1 % of a value of the data.
 * Bucket index of x > 0: ceil(ln(x) / ln(GAMMA)); negatives use the same index of |x| in
 * their own store; zeros (|x| < MIN_INDEXABLE) are counted apart. Buckets merge by adding
 * counts, in TypeScript and in DuckDB SQL alike.
 */
export const SKETCH_ALPHA = 0.01;
export const SKETCH_GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA);
const LN_GAMMA = Math.log(SKETCH_GAMMA);
/** below this magnitude a value counts as zero (keeps indexes in a small range) */
export const SKETCH_MIN_INDEXABLE = 1e-9;

export interface SketchState {
  /** bucket index → count, for values > 0 */
  pos: Map<number, number>;
  /** bucket index of |x| → count, for values < 0 */
  neg: Map<number, number>;
  zero: number;
  count: number;
}

export function sketchInit(): SketchState {
  return { pos: new Map(), neg: new Map(), zero: 0, count: 0 };
}

export function sketchIndex(magnitude: number): number {
  return Math.ceil(Math.log(magnitude) / LN_GAMMA);
}

/** The value a bucket stands for: within ALPHA of every value in it. */
export function sketchBucketValue(index: number): number {
  return (2 * SKETCH_GAMMA ** index) / (SKETCH_GAMMA + 1);
}

export function sketchAdd(state: SketchState, x: number): SketchState {
  state.count++;
  if (Math.abs(x) < SKETCH_MIN_INDEXABLE) state.zero++;
  else if (x > 0) bump(state.pos, sketchIndex(x), 1);
  else bump(state.neg, sketchIndex(-x), 1);
  return state;
}

function bump(map: Map<number, number>, key: number, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Bucket-wise sum into `into` (which the caller owns); `from` is not changed. */
export function sketchAbsorb(into: SketchState, from: SketchState): SketchState {
  for (const [i, c] of from.pos) bump(into.pos, i, c);
  for (const [i, c] of from.neg) bump(into.neg, i, c);
  into.zero += from.zero;
  into.count += from.count;
  return into;
}

export function sketchMerge(a: SketchState, b: SketchState): SketchState {
  const out: SketchState = { pos: new Map(a.pos), neg: new Map(a.neg), zero: a.zero + b.zero, count: a.count + b.count };
  for (const [i, c] of b.pos) bump(out.pos, i, c);
  for (const [i, c] of b.neg) bump(out.neg, i, c);
  return out;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) by rank q·(n − 1), lowest value first; null when empty.
 */
export function sketchQuantile(state: SketchState, q: number): number | null {
  if (state.count === 0) return null;
  const rank = q * (state.count - 1);
  let seen = 0;
  // Most negative first: the largest |x| index of the negative store.
  const neg = [...state.neg.keys()].sort((x, y) => y - x);
  for (const i of neg) {
    seen += state.neg.get(i)!;
    if (seen > rank) return -sketchBucketValue(i);
  }
  seen += state.zero;
  if (seen > rank) return 0;
  const pos = [...state.pos.keys()].sort((x, y) => x - y);
  for (const i of pos) {
    seen += state.pos.get(i)!;
    if (seen > rank) return sketchBucketValue(i);
  }
  return sketchBucketValue(pos.at(-1)!);
}
