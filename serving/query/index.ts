export { QueryEngine } from './engine.js';
export { QueryCache } from './cache.js';
export type { ViewQuery, AnswerRow, Answered, DimFilter, OrderKey, HavingOp } from './query.js';
export { checkQuery, fromQueryString, parseViewQuery, Sources, Formats, HavingOps, MAX_LIMIT, DEFAULT_LIMIT } from './params.js';
export type { Format, QueryRequest, Source } from './params.js';
export { toCsv } from './csv.js';
