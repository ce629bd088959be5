export { ConfigSchema, ArchiveSettings, BatchSettings, SIZE_PATTERN, Size, leafKeys } from './schema.js';
export type { BraidConfig } from './schema.js';
export { loadConfig, resolveConfig, envName, parseDuration, parseSize } from './load.js';
export type { LoadOptions, ResolvedConfig } from './load.js';
export { resolveOptions, hintOf } from './options.js';
