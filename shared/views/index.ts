export { Granularities, bucketOf, canRollUp, definitionVersion } from './definition.js';
export type { Granularity, ViewDefinition } from './definition.js';
export { PATH_PATTERN, pathReader, dimensionValue } from './paths.js';
export { parseViews } from './parse.js';
