import type { MeasureKind, Measure } from './kind.js';
import { avgKind, type AvgSpec } from './kinds/avg.js';
import { countKind, type CountSpec } from './kinds/count.js';
import { distinctKind, type DistinctSpec } from './kinds/distinct.js';
import { maxKind, minKind, type ExtremeSpec } from './kinds/extremes.js';
import { quantileKind, type QuantileSpec } from './kinds/quantile.js';
import { sumKind, type SumSpec } from './kinds/sum.js';
import { firstKind, latestKind, type PlacedSpec } from './kinds/latest.js';
import { topkKind, type TopkSpec } from './kinds/topk.js';
import { valuesKind, type ValuesSpec } from './kinds/values.js';

/**
 * Every measure kind braid knows, once. The config parser, the speed layer's fold, the
 * batch layer's SQL and decoding, and verification all look a kind up here: adding a kind
 * is a module in `kinds/` and a line below (and its spec in the union).
 */
export type MeasureSpec =
  | CountSpec
  | SumSpec
  | ExtremeSpec<'min'>
  | ExtremeSpec<'max'>
  | AvgSpec
  | DistinctSpec
  | QuantileSpec
  | PlacedSpec<'latest'>
  | PlacedSpec<'first'>
  | ValuesSpec
  | TopkSpec;

const kinds = [countKind, sumKind, minKind, maxKind, avgKind, distinctKind, quantileKind, latestKind, firstKind, valuesKind, topkKind] as const;

export type MeasureKindName = MeasureSpec['kind'];
export const MeasureKinds: readonly MeasureKindName[] = kinds.map((k) => k.name);

const byName = new Map<string, MeasureKind<any>>(kinds.map((k) => [k.name, k]));

/** The kind of a spec (or of a name from the config; undefined when unknown). */
export function kindOf<S extends MeasureSpec>(spec: S): MeasureKind<S>;
export function kindOf(name: string): MeasureKind<MeasureSpec> | undefined;
export function kindOf(specOrName: MeasureSpec | string): MeasureKind<any> | undefined {
  return byName.get(typeof specOrName === 'string' ? specOrName : specOrName.kind);
}

/** Every kind, in the order the config's messages list them. */
export function measureKinds(): readonly MeasureKind<any>[] {
  return kinds;
}

export function measureOf(spec: MeasureSpec): Measure<any, unknown> {
  return kindOf(spec).monoid(spec);
}
