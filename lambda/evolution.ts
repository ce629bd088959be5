import { viewKey, type BatchVersion, type CompiledView } from '../shared/views/index.js';

/**
 * View evolution: which definition of a view answers while braid.yaml defines it anew.
 *
 * A batch version stores the definition each of its views was computed with. A view whose
 * configured definition differs from the serving version's is answered with the stored one
 * (the speed layer folds both, keyed `name@version`) until a batch run computes the
 * configured one, which starts when braid starts. A view the serving version does not hold
 * at all (added since) covers only the speed layer's records and is not answered until then.
 */

/** The definition that answers `name` against `version`; undefined when no definition is known. */
export function answeringView(name: string, configured: ReadonlyMap<string, CompiledView>, version: BatchVersion | undefined): CompiledView | undefined {
  return version?.tables.get(name)?.view ?? configured.get(name);
}

/** Whether `view` can be answered whole with `version`: it covers every record below S. */
export function answersWhole(view: CompiledView, version: BatchVersion | undefined): boolean {
  return version === undefined || version.tables.get(view.def.name)?.view.version === view.version;
}

/** The stored definitions `version` serves that braid.yaml defines differently now (or no longer). */
export function servedOlderDefinitions(configured: readonly CompiledView[], version: BatchVersion | undefined): CompiledView[] {
  const keys = new Set(configured.map(viewKey));
  return version ? [...version.tables.values()].map((t) => t.view).filter((v) => !keys.has(viewKey(v))) : [];
}

/** Whether a batch run must compute some configured view the serving version lacks or holds differently. */
export function needsRecompute(configured: readonly CompiledView[], version: BatchVersion | undefined): boolean {
  return version !== undefined && configured.some((v) => version.tables.get(v.def.name)?.view.version !== v.version);
}

/** The configured views both sides of a verification computed with the same definition. */
export function comparableViews(configured: readonly CompiledView[], version: BatchVersion | undefined): CompiledView[] {
  return configured.filter((view) => answersWhole(view, version));
}
