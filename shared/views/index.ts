export { Granularities, bucketOf, canRollUp, definitionVersion } from './definition.js';
export type { Granularity, ViewDefinition } from './definition.js';
export { PATH_PATTERN, pathReader, dimensionValue } from './paths.js';
export { parseViews } from './parse.js';
export { compileView, viewKey } from './compiled.js';
export type { CompiledView } from './compiled.js';
export { GroupTable, ViewTable, absorbStates, groupKey } from './table.js';
export type { ViewRow } from './table.js';
export type { BatchVersion } from './version.js';
