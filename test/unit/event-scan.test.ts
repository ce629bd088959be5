import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, EventScanner, type StoredEvent } from '../../shared/events/index.js';
import { dimensionValue, pathReader } from '../../shared/views/paths.js';

// Keys that collide with the scanner's own names and JavaScript's, and ones that need escapes.
const KEYS = ['a', 'b', 'country', 'amount', 'id', 'type', 'time', 'key', 'data', '__proto__', 'constructor', 'x-y', 'é', '"q"', 'back\\slash', 'tab\t'];
const key = fc.constantFrom(...KEYS);
const scalar = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', '"', '\\', '\\"', '\u2028', '\u0000', 'naïve', '😀', '\ud800'),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e21, 1e-7, 123456789012345, 1234567890123456, 0.1, -5e-324),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, scalar, tie('object'), fc.array(tie('node'), { maxLength: 3 })),
  object: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
})).node;

const event = fc.record(
  {
    id: fc.string({ minLength: 1 }),
    type: fc.constantFrom('page_view', 'purchase', 'a.b:c-d'),
    time: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    key: fc.string({ minLength: 1 }),
    data: fc.dictionary(key, value, { maxKeys: 6 }),
  },
  { requiredKeys: ['id', 'type', 'time'] },
);
const path = fc.oneof(
  fc.constantFrom('id', 'type', 'key'),
  fc.array(key, { minLength: 1, maxLength: 3 }).map((parts) => `data.${parts.join('.')}`),
);

/** What a view reads from the event at a path: the value itself and as a dimension. */
function reads(e: StoredEvent, paths: readonly string[]) {
  return paths.map((p) => {
    const v = pathReader(p)(e);
    return { path: p, value: v, dimension: dimensionValue(v) };
  });
}

describe('EventScanner: the fold decodes only what the views read', () => {
  it('reads every path as the full parse does, for any event braid stores', () => {
    fc.assert(
      fc.property(event, fc.array(path, { maxLength: 5 }), (e, paths) => {
        const bytes = encodeEvent(e as StoredEvent);
        const full = decodeEvent(bytes);
        const scanned = new EventScanner(paths).scan(bytes);
        expect({ id: scanned.id, type: scanned.type, time: scanned.time, key: scanned.key }).toEqual({ id: full.id, type: full.type, time: full.time, key: full.key });
        // Object.is through toEqual's recursion: -0 stays -0, objects compare by own keys.
        expect(reads(scanned, paths)).toEqual(reads(full, paths));
        for (const r of reads(scanned, paths)) if (typeof r.value === 'number') expect(Object.is(r.value, pathReader(r.path)(full))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads only the paths asked for: data holds nothing else', () => {
    const bytes = encodeEvent({ id: 'e1', type: 't', time: 5, data: { country: 'NL', amount: 12.5, big: { a: [1, 2, { b: 'x' }] }, note: 'a "quoted" \\ note' } });
    const scanned = new EventScanner(['data.country', 'data.big.a']).scan(bytes);
    expect(scanned).toEqual({ id: 'e1', type: 't', time: 5, data: { country: 'NL', big: { a: [1, 2, { b: 'x' }] } } });
    expect(new EventScanner([]).scan(bytes)).toEqual({ id: 'e1', type: 't', time: 5, data: {} });
  });

  it('a later duplicate key replaces an earlier one, as JSON.parse decides', () => {
    const text = '{"id":"e","type":"t","time":1,"data":{"a":{"b":1},"a":"flat","c":2,"c":{"d":3}}}';
    const bytes = Buffer.from(text);
    const scanned = new EventScanner(['data.a.b', 'data.c.d', 'data.c']).scan(bytes);
    const full = JSON.parse(text) as StoredEvent;
    expect(reads(scanned, ['data.a.b', 'data.c.d', 'data.c'])).toEqual(reads(full, ['data.a.b', 'data.c.d', 'data.c']));
  });

  it('falls back to the full parse on bytes it does not expect, and fails as it fails', () => {
    const spaced = Buffer.from('{ "id" : "e" , "type":"t", "time": 2.5e3 , "data" : { "a" : [ 1 ] } }');
    expect(new EventScanner(['data.a']).scan(spaced)).toEqual({ id: 'e', type: 't', time: 2500, data: { a: [1] } });
    const escapedKey = Buffer.from('{"\\u0069d":"e","type":"t","time":1}');
    expect(new EventScanner([]).scan(escapedKey)).toEqual({ id: 'e', type: 't', time: 1 });
    expect(() => new EventScanner([]).scan(Buffer.from('{"id":"e","type":'))).toThrow(SyntaxError);
  });
});
