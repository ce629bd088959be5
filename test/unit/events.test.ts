import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeEvent, encodeEvent, parseEventTime, recordKey, validateEvents, defaultEventLimits, type EventProblem } from '../../shared/events/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const valid = { id: 'order-7f3a', type: 'purchase', time: '2026-11-27T10:15:00.123Z', key: 'user-42', data: { amount: 19.99, country: 'DE' } };

function problemsOf(events: unknown[]): EventProblem[] {
  const r = validateEvents(events, defaultEventLimits, NOW);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

describe('event time', () => {
  it('parses RFC 3339 with Z and with offsets to epoch ms', () => {
    expect(parseEventTime('2026-11-27T10:15:00.123Z')).toEqual({ ok: true, ms: Date.UTC(2026, 10, 27, 10, 15, 0, 123) });
    expect(parseEventTime('2026-11-27T11:15:00+01:00')).toEqual({ ok: true, ms: Date.UTC(2026, 10, 27, 10, 15) });
    expect(parseEventTime('2026-11-27T10:15:00.123456789Z')).toEqual({ ok: true, ms: Date.UTC(2026, 10, 27, 10, 15, 0, 123) });
  });
  it('takes integer epoch milliseconds as they are', () => {
    expect(parseEventTime(1_795_000_000_000)).toEqual({ ok: true, ms: 1_795_000_000_000 });
  });
  it.each([
    ['2026-11-27T10:15:00', 'zone'],
    ['2026-02-30T00:00:00Z', 'not a real date'],
    ['2026-11-27T24:00:00Z', 'not a real date'],
    ['27/11/2026', 'RFC 3339'],
    ['2026-11-27T10:15:00+25:00', 'zone offset'],
  ])('rejects %s', (input, reason) => {
    const r = parseEventTime(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
  it('rejects fractional epochs and non-time types', () => {
    expect(parseEventTime(1.5).ok).toBe(false);
    expect(parseEventTime(true).ok).toBe(false);
    expect(parseEventTime(null).ok).toBe(false);
  });
});

describe('event validation', () => {
  it('accepts a valid event and stores time as epoch ms', () => {
    const r = validateEvents([valid, { id: 'x', type: 'a.b:c-d_e', time: 0 }], defaultEventLimits, NOW);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.events[0]).toEqual({ ...valid, time: Date.parse(valid.time) });
      expect(r.events[1]).toEqual({ id: 'x', type: 'a.b:c-d_e', time: 0 });
    }
  });

  it('names the index, the path and the reason of every problem of every event', () => {
    const problems = problemsOf([
      valid,
      { type: 'purchase', time: 1 },
      { id: 7, type: 'bad type!', time: 'yesterday', key: '', data: [], extra: true },
    ]);
    const at = (index: number, path: string) => problems.find((p) => p.index === index && p.path === path);
    expect(problems.every((p) => p.index !== 0)).toBe(true);
    expect(at(1, '$.id')?.reason).toMatch(/required/);
    expect(at(2, '$.id')?.reason).toMatch(/must be a string, got number 7/);
    expect(at(2, '$.type')?.reason).toMatch(/\[A-Za-z0-9_.:-\]/);
    expect(at(2, '$.time')?.reason).toMatch(/RFC 3339/);
    expect(at(2, '$.key')?.reason).toMatch(/1–256/);
    expect(at(2, '$.data')?.reason).toMatch(/JSON object, got an array/);
    expect(at(2, '$.extra')?.reason).toMatch(/unknown field "extra"/);
  });

  it('rejects a non-object event', () => {
    expect(problemsOf(['a'])[0]).toMatchObject({ index: 0, path: '$' });
    expect(problemsOf([null])[0]?.reason).toMatch(/got null/);
  });

  it('rejects __proto__, constructor and prototype keys anywhere in data', () => {
    const data = JSON.parse('{"a":{"b":[{"__proto__":{"x":1}}]},"constructor":1,"ok":{"prototype":2}}');
    const paths = problemsOf([{ ...valid, data }]).map((p) => p.path);
    expect(paths).toEqual(['$.data.a.b[0].__proto__', '$.data.constructor', '$.data.ok.prototype']);
  });

  it('rejects strings that are not well-formed Unicode, and accepts paired surrogates', () => {
    const paths = problemsOf([{ ...valid, id: 'a\ud800', key: '\udc00b', data: { ok: '😀', bad: 'x\ud83d', ['k\ud800']: 1, list: ['\udfff'] } }]).map((p) => p.path);
    expect([...paths].sort()).toEqual(['$.data.bad', '$.data.list[0]', `$.data[${JSON.stringify('k\ud800')}]`, '$.id', '$.key'].sort());
    expect(validateEvents([{ ...valid, data: { emoji: '😀', 日本: 'ü' } }], defaultEventLimits, NOW).ok).toBe(true);
  });

  it('rejects a time after now + maxFutureMs and before 1970', () => {
    expect(problemsOf([{ ...valid, time: NOW + 3_600_001 }])[0]?.reason).toMatch(/maxFutureMs/);
    expect(validateEvents([{ ...valid, time: NOW + 3_600_000 }], defaultEventLimits, NOW).ok).toBe(true);
    expect(problemsOf([{ ...valid, time: '1969-12-31T23:59:59Z' }])[0]?.reason).toMatch(/before 1970/);
    expect(problemsOf([{ ...valid, time: -1 }])[0]?.reason).toMatch(/before 1970/);
  });

  it('enforces the size limit on the serialised event', () => {
    const limits = { ...defaultEventLimits, maxEventBytes: 200 };
    const r = validateEvents([{ ...valid, data: { s: 'x'.repeat(200) } }, valid], limits, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]).toMatchObject({ index: 0, path: '$' });
      expect(r.problems[0]?.reason).toMatch(/over the 200-byte limit/);
    }
  });

  it('enforces the length limits of id, type and key', () => {
    expect(problemsOf([{ ...valid, id: 'x'.repeat(129) }])[0]?.path).toBe('$.id');
    expect(validateEvents([{ ...valid, id: 'x'.repeat(128) }], defaultEventLimits, NOW).ok).toBe(true);
    expect(problemsOf([{ ...valid, type: 't'.repeat(65) }])[0]?.path).toBe('$.type');
    expect(problemsOf([{ ...valid, key: 'k'.repeat(257) }])[0]?.path).toBe('$.key');
  });

  it('round-trips every valid event through the log encoding, keyed by key ?? id', () => {
    const event = fc.record(
      {
        id: fc.string({ minLength: 1, maxLength: 128 }),
        type: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
        time: fc.integer({ min: 0, max: NOW }),
        key: fc.string({ minLength: 1, maxLength: 256 }),
        data: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.jsonValue({ maxDepth: 3 })),
      },
      { requiredKeys: ['id', 'type', 'time'] },
    );
    fc.assert(
      fc.property(event, (generated) => {
        // What a client sends is JSON text (which has no -0, for one).
        const e = JSON.parse(JSON.stringify(generated)) as typeof generated;
        // Forbidden keys have their own test; here every generated event must be valid.
        fc.pre(!/"(__proto__|constructor|prototype)":/.test(JSON.stringify(e)));
        const r = validateEvents([e], defaultEventLimits, NOW);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const stored = r.events[0]!;
        expect(decodeEvent(encodeEvent(stored))).toEqual(stored);
        expect(recordKey(stored)).toBe(e.key ?? e.id);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts everything the demo generator produces', () => {
    const events = new DemoGenerator({ seed: 7 }).batch(2_000, NOW);
    expect(validateEvents(events, defaultEventLimits, NOW).ok).toBe(true);
  });
});
