import { childPath } from './text.js';
import { parseEventTime } from './time.js';
import { encodeEvent, type StoredEvent } from './event.js';

export interface EventLimits {
  /** events may be at most this far after now; one hour by default */
  readonly maxFutureMs: number;
  /** the stored (serialised) event's size limit; 64 KiB by default */
  readonly maxEventBytes: number;
  /** how deep `data` may nest objects and arrays (`data` itself is level 1); 64 by default */
  readonly maxDepth: number;
}

export const defaultEventLimits: EventLimits = {
  maxFutureMs: 3_600_000, // one hour
  maxEventBytes: 65_536, // 64 KiB
  maxDepth: 64, // levels
};

/** One problem with one event of a request: which event, where in it, and why. */
export interface EventProblem {
  readonly index: number;
  /** JSON path inside the event, e.g. `$.data.amount` */
  readonly path: string;
  readonly reason: string;
}

export type ValidationResult =
  /** `values[i]`: `events[i]` as the log stores it (encodeEvent's bytes), made once, by the size check */
  | { ok: true; events: StoredEvent[]; values: Buffer[] }
  | { ok: false; problems: EventProblem[] };

const FIELDS = new Set(['id', 'type', 'time', 'key', 'data']);
// A lone UTF-16 surrogate cannot be encoded as UTF-8: DuckDB, Kafka clients in other
// languages and JSON parsers disagree on what it becomes, so it is rejected at the door.
const wellFormed = (s: string): boolean => s.isWellFormed();
const NOT_WELL_FORMED = 'contains a lone UTF-16 surrogate (not valid Unicode); send well-formed UTF-8 text';
const TYPE_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
// Keys that, merged into an object naively anywhere downstream, reach Object.prototype.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Validates every event of a request (contract §1) and reports every problem, so a
 * client can fix a whole batch in one round trip. The request is all-or-nothing: callers
 * append only when `ok`.
 */
export function validateEvents(input: readonly unknown[], limits: EventLimits, now = Date.now()): ValidationResult {
  const events: StoredEvent[] = [];
  const values: Buffer[] = [];
  const problems: EventProblem[] = [];
  input.forEach((raw, index) => {
    const before = problems.length;
    const valid = validateOne(raw, index, limits, now, problems);
    if (valid && problems.length === before) {
      events.push(valid.event);
      values.push(valid.value);
    }
  });
  return problems.length === 0 ? { ok: true, events, values } : { ok: false, problems };
}

function validateOne(
  raw: unknown,
  index: number,
  limits: EventLimits,
  now: number,
  problems: EventProblem[],
): { event: StoredEvent; value: Buffer } | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    report(problems, index, '$', `an event must be a JSON object, got ${describe(raw)}`);
    return undefined;
  }
  const obj = raw as Record<string, unknown>;
  for (const field of Object.keys(obj)) {
    if (!FIELDS.has(field)) {
      report(problems, index, `$.${field}`, `unknown field "${field}"; an event has only id, type, time, key and data (put custom fields in data)`);
    }
  }

  const id = obj.id;
  if (id === undefined) report(problems, index, '$.id', 'required: a string of 1–128 characters, the idempotency key of the event');
  else if (typeof id !== 'string') report(problems, index, '$.id', `must be a string, got ${describe(id)}`);
  else if (id.length < 1 || id.length > 128) report(problems, index, '$.id', `must be 1–128 characters, got ${id.length}`);
  else if (!wellFormed(id)) report(problems, index, '$.id', NOT_WELL_FORMED);

  const type = obj.type;
  if (type === undefined) report(problems, index, '$.type', 'required: 1–64 characters of [A-Za-z0-9_.:-]');
  else if (typeof type !== 'string') report(problems, index, '$.type', `must be a string, got ${describe(type)}`);
  else if (!TYPE_PATTERN.test(type)) report(problems, index, '$.type', `"${clip(type)}" must be 1–64 characters of [A-Za-z0-9_.:-]`);

  let time: number | undefined;
  if (obj.time === undefined) {
    report(problems, index, '$.time', 'required: RFC 3339 with a zone (e.g. "2026-11-27T10:15:00Z") or integer epoch milliseconds');
  } else {
    const parsed = parseEventTime(obj.time);
    if (!parsed.ok) report(problems, index, '$.time', parsed.reason);
    else if (parsed.ms < 0) report(problems, index, '$.time', 'is before 1970; event times start at the Unix epoch');
    else if (parsed.ms > now + limits.maxFutureMs) {
      report(problems, index,
        '$.time',
        `is ${new Date(parsed.ms).toISOString()}, more than ${limits.maxFutureMs} ms after now (ingest.maxFutureMs); check the sender's clock`,
      );
    } else time = parsed.ms;
  }

  const key = obj.key;
  if (key !== undefined) {
    if (typeof key !== 'string') report(problems, index, '$.key', `must be a string, got ${describe(key)}`);
    else if (key.length < 1 || key.length > 256) report(problems, index, '$.key', `must be 1–256 characters, got ${key.length}`);
    else if (!wellFormed(key)) report(problems, index, '$.key', NOT_WELL_FORMED);
  }

  const data = obj.data;
  let serialisable = true;
  if (data !== undefined) {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      report(problems, index, '$.data', `must be a JSON object, got ${describe(data)}`);
    } else {
      const found = scanData(data, limits.maxDepth);
      for (const path of found.forbidden) {
        report(problems, index, path, 'keys named __proto__, constructor or prototype are not allowed; rename the field');
      }
      for (const path of found.malformed) report(problems, index, path, NOT_WELL_FORMED);
      for (const path of found.nonFinite) report(problems, index, path, 'is a number beyond the range of a double (it would be stored as null); send a finite number, or a string');
      serialisable = found.tooDeep.length === 0;
      for (const path of found.tooDeep) {
        report(problems, index, path, `nests deeper than ${limits.maxDepth} levels of objects and arrays (ingest.maxDepth); flatten the data`);
      }
    }
  }

  if (typeof id !== 'string' || typeof type !== 'string' || time === undefined) return undefined;
  // Serialising data nested deeper than the limit could overflow the stack.
  if (!serialisable) return undefined;
  const event: StoredEvent = {
    id,
    type,
    time,
    ...(typeof key === 'string' ? { key } : {}),
    ...(data !== undefined ? { data: data as Record<string, unknown> } : {}),
  };
  // The stored form (encodeEvent), made once: its size is the limit's measure, and the
  // ingestor appends these bytes as they are.
  const value = encodeEvent(event);
  if (value.length > limits.maxEventBytes) {
    report(problems, index, '$', `the event is ${value.length} bytes serialised, over the ${limits.maxEventBytes}-byte limit (ingest.maxEventBytes)`);
  }
  return { event, value };
}

// Module-level, not closures made per event: under tsx every function expression made at run
// time is also named (esbuild's keepNames), a tenth of validation's time when made per event.
function report(problems: EventProblem[], index: number, path: string, reason: string): void {
  problems.push({ index, path, reason });
}

/** A value of `data` being scanned, with its parent's entry and its key there. */
interface Entry {
  readonly value: unknown;
  readonly parent: Entry | undefined;
  readonly key: string | number;
  readonly depth: number;
}

function pathOf(e: Entry): string {
  return e.parent === undefined ? '$.data' : childPath(pathOf(e.parent), e.key);
}

/**
 * Finds forbidden keys, strings (keys or values) that are not well-formed Unicode, numbers
 * that are not finite, and values nested deeper than `maxDepth` (not descended into).
 * Iterative, so a deeply nested document cannot overflow the stack.
 */
function scanData(root: object, maxDepth: number): { forbidden: string[]; malformed: string[]; nonFinite: string[]; tooDeep: string[] } {
  const forbidden: string[] = [];
  const malformed: string[] = [];
  const nonFinite: string[] = [];
  const tooDeep: string[] = [];
  // A path is written out only for a problem, not for every value of every event.
  const stack: Entry[] = [{ value: root, parent: undefined, key: '', depth: 1 }];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    const { value, depth } = entry;
    if (typeof value === 'string') {
      if (!wellFormed(value)) malformed.push(pathOf(entry));
      continue;
    }
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) nonFinite.push(pathOf(entry));
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > maxDepth) {
      tooDeep.push(pathOf(entry));
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], parent: entry, key: i, depth: depth + 1 });
      continue;
    }
    for (const k of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(k)) forbidden.push(childPath(pathOf(entry), k));
      if (!wellFormed(k)) malformed.push(childPath(pathOf(entry), k));
      stack.push({ value: (value as Record<string, unknown>)[k], parent: entry, key: k, depth: depth + 1 });
    }
  }
  return { forbidden: forbidden.sort(), malformed: malformed.sort(), nonFinite: nonFinite.sort(), tooDeep: tooDeep.sort() };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string "${clip(v)}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
