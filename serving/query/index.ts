export { answerQuery, answerQueryOver } from './query.js';
export type { ViewQuery, AnswerRow } from './query.js';
export { parseViewQuery, Sources, MAX_LIMIT, DEFAULT_LIMIT } from './params.js';
export type { Source } from './params.js';
