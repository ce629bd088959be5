export { count, sum, min, max, avg, distinct, quantile, measureOf, distinctForm, MeasureKinds } from './measures.js';
export type { Measure, MeasureKind, MeasureSpec, AvgState } from './measures.js';
export { HLL_P, HLL_M, hllInit, hllHash, hllAdd, hllAddHash, hllMerge, hllAbsorb, hllEstimate, hllRegisters, hllFromRegisters } from './hll.js';
export type { HllState } from './hll.js';
export { SKETCH_ALPHA, SKETCH_GAMMA, SKETCH_MIN_INDEXABLE, sketchInit, sketchAdd, sketchMerge, sketchAbsorb, sketchQuantile, sketchIndex, sketchBucketValue } from './sketch.js';
export type { SketchState } from './sketch.js';
