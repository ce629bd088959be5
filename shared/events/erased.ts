/**
 * What an erased event becomes (data-subject erasure, lambda/erasure.ts): a record that keeps
 * its place (partition, offset, append time) and nothing of the subject. Its type `!` is not
 * an event type a client can send or a view can list (validate.ts, views/parse.ts: types are
 * `[A-Za-z0-9_.:-]`), so no view counts it; its id `""` is not an id a client can send (ids
 * are 1–128 characters), so the dedupe rule never makes a client's event a duplicate of it.
 * Every reader folds it like any event, which is to say it counts nowhere: the answers are
 * those of a log without the erased events.
 */
export const ERASED_TYPE = '!';
export const ERASED_JSON = '{"id":"","type":"!","time":0}';

/**
 * The stored form of an erased event in exactly `bytes` bytes (JSON allows the trailing
 * spaces), so that an embedded-log frame keeps its length and every position after it. Every
 * event braid stores is longer: the shortest is `{"id":"a","type":"b","time":0}`.
 */
export function erasedValue(bytes: number): Buffer {
  if (bytes < ERASED_JSON.length) throw new RangeError(`an erased event needs ${ERASED_JSON.length} bytes, not ${bytes}`);
  const out = Buffer.alloc(bytes, 0x20);
  out.write(ERASED_JSON, 0, 'latin1');
  return out;
}

export function isErased(event: { readonly type: string }): boolean {
  return event.type === ERASED_TYPE;
}

const ERASED_PREFIX = Buffer.from('{"id":"",', 'latin1');

/**
 * Whether a record's stored bytes are an erased event, without parsing them: braid writes the
 * id first, and no client id is empty. The fold skips these before the dedupe rule, so an
 * erased record is no record at all (not a duplicate of another erased one).
 */
export function isErasedValue(value: Uint8Array): boolean {
  if (value.length < ERASED_PREFIX.length) return false;
  for (let i = 0; i < ERASED_PREFIX.length; i++) if (value[i] !== ERASED_PREFIX[i]) return false;
  return true;
}
