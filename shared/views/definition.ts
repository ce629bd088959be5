import { createHash } from 'node:crypto';
import type { MeasureSpec } from '../measures/index.js';

/** Bucket sizes, ms; `none` (0): no time buckets, one row per dimension combination for all time (an entity view). */
export const Granularities = { minute: 60_000, hour: 3_600_000, day: 86_400_000, none: 0 } as const;
export type Granularity = keyof typeof Granularities;

/** A view as declared in braid.yaml (contract §4), after validation. */
export interface ViewDefinition {
  readonly name: string;
  readonly events: readonly string[];
  /** path → the values it may equal (as dimension strings) */
  readonly where: Readonly<Record<string, readonly string[]>>;
  readonly granularity: Granularity;
  readonly dimensions: readonly string[];
  readonly measures: Readonly<Record<string, MeasureSpec>>;
}

/**
 * A short, stable hash of what the view computes (not its name's position in the file):
 * a changed definition gets a new version, so a rebuild can be served beside the old one.
 */
export function definitionVersion(view: ViewDefinition): string {
  const canonical = JSON.stringify({
    events: [...view.events].sort(),
    where: Object.fromEntries(Object.entries(view.where).sort().map(([k, v]) => [k, [...v].sort()])),
    granularity: view.granularity,
    dimensions: view.dimensions,
    measures: Object.entries(view.measures),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

/** UTC bucket start of an event time, epoch ms (UTC days have no leap seconds in epoch ms). */
export function bucketOf(time: number, granularity: Granularity): number {
  const size = Granularities[granularity];
  if (size === 0) return 0;
  return Math.floor(time / size) * size;
}

/** Whether `coarser` is the same as or coarser than `finer`, so rows can roll up to it. */
export function canRollUp(finer: Granularity, coarser: Granularity): boolean {
  // A view without buckets has no time to roll up by; a bucketed one cannot lose its time.
  if (finer === 'none' || coarser === 'none') return finer === coarser;
  return Granularities[coarser] >= Granularities[finer];
}
