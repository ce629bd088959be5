import { SKETCH_GAMMA, SKETCH_MIN_INDEXABLE, sketchIndex } from './sketch.js';

/**
 * The quantile sketch's bucket index is ceil(ln(x) / ln(GAMMA)) (sketch.ts).
 * V8's Math.log (an fdlibm port) and DuckDB's ln (the C library's) differ in the last bit
 * for some inputs, so for values within an ulp or so of a bucket boundary the two engines
 * would pick neighbouring buckets (measured: about 1 in 200 of such values). SQL therefore
 * only estimates the index with ln and corrects it against this table, computed here with
 * the very function TypeScript uses:
 *
 *   lower[i] = the smallest double x with sketchIndex(x) >= first + i
 *
 * so the TypeScript index of x is the k with lower[k - first] <= x < lower[k + 1 - first].
 * (This assumes Math.log is monotone, which the equivalence tests probe at every boundary.)
 */
export interface SketchBounds {
  /** the bucket index of lower[0] */
  readonly first: number;
  readonly lower: Float64Array;
}

let cached: SketchBounds | undefined;

export function sketchBounds(): SketchBounds {
  if (cached) return cached;
  // One index of slack below the smallest indexable value and above the largest double, so
  // that an estimate off by one still finds both of its neighbours in the table.
  const first = sketchIndex(SKETCH_MIN_INDEXABLE) - 1;
  const last = sketchIndex(Number.MAX_VALUE) + 2;
  const lower = new Float64Array(last - first + 1);
  for (let k = first; k <= last; k++) lower[k - first] = smallestWithIndex(k);
  cached = { first, lower };
  return cached;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const bitsOf = (x: number): bigint => ((f64[0] = x), u64[0]!);
const fromBits = (b: bigint): number => ((u64[0] = b), f64[0]!);

/** Binary search over the bit patterns of positive doubles, which sort like the values. */
function smallestWithIndex(k: number): number {
  const boundary = SKETCH_GAMMA ** (k - 1); // index k covers (GAMMA^(k-1), GAMMA^k]
  if (boundary === Infinity) return Infinity;
  if (boundary === 0) return 0;
  let lo = bitsOf(boundary * (1 - 1e-9)); // index < k
  let hi = bitsOf(boundary * (1 + 1e-9)); // index >= k
  if (hi === bitsOf(Infinity)) hi = bitsOf(Number.MAX_VALUE);
  if (sketchIndex(fromBits(lo)) >= k || sketchIndex(fromBits(hi)) < k) {
    throw new Error(`sketch bounds: bucket ${k} is not bracketed around ${boundary}`);
  }
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (sketchIndex(fromBits(mid)) >= k) hi = mid;
    else lo = mid;
  }
  return fromBits(hi);
}
