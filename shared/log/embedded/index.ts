export { EmbeddedLog } from './embedded-log.js';
export { defaultEmbeddedLogOptions, resolveEmbeddedLogOptions } from './options.js';
export type { EmbeddedLogIo, EmbeddedLogOpenOptions, EmbeddedLogOptions, SegmentFile } from './options.js';
export type { Recovery } from './partition.js';
