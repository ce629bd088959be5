export { parseEventTime } from './time.js';
export type { TimeParse } from './time.js';
export { encodeEvent, decodeEvent, recordKey } from './event.js';
export type { StoredEvent } from './event.js';
export { validateEvents, defaultEventLimits } from './validate.js';
export type { EventLimits, EventProblem, ValidationResult } from './validate.js';
export { changedNumberLiterals, childPath, firstInvalidUtf8 } from './text.js';
export type { LiteralProblem } from './text.js';
export { ERASED_JSON, ERASED_TYPE, erasedValue, isErased, isErasedValue } from './erased.js';
