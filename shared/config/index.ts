export { ConfigSchema, ArchiveSettings, BatchSettings, SIZE_PATTERN, Scopes, Size, leafKeys } from './schema.js';
export type { BraidConfig, Scope } from './schema.js';
export { loadConfig, resolveConfig, envName, parseDuration, parseSize } from './load.js';
export type { ApiKey, LoadOptions, ResolvedConfig } from './load.js';
export { resolveOptions, hintOf } from './options.js';
