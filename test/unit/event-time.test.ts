import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEventTime } from '../../shared/events/index.js';

const two = (n: number) => String(n).padStart(2, '0');

/** The reference: the calendar checked by a Date round trip, the value by Date.parse of the normalised text. */
function reference(y: number, mo: number, d: number, h: number, mi: number, s: number, fraction: string, zone: string, sep: string) {
  const probe = new Date(0);
  probe.setUTCFullYear(y, mo - 1, d);
  const real = mo >= 1 && mo <= 12 && probe.getUTCMonth() === mo - 1 && probe.getUTCDate() === d && h <= 23 && mi <= 59 && s <= 59;
  const zoneOk = zone.length === 1 || (Number(zone.slice(1, 3)) <= 23 && Number(zone.slice(4, 6)) <= 59);
  const text = `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}${fraction.slice(0, 4)}${zone.toUpperCase()}`;
  return { real, zoneOk, ms: Date.parse(text), sep };
}

describe('parseEventTime: RFC 3339 by integer arithmetic', () => {
  it('gives what Date.parse gives for every real date and time, and refuses the rest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        fc.option(fc.stringMatching(/^\.\d{1,9}$/), { nil: '' }),
        fc.oneof(fc.constantFrom('Z', 'z'), fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 })).map(([sign, h, m]) => `${sign}${two(h)}:${two(m)}`)),
        fc.constantFrom('T', 't', ' '),
        (y, mo, d, h, mi, s, fraction, zone, sep) => {
          const value = `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}${sep}${two(h)}:${two(mi)}:${two(s)}${fraction}${zone}`;
          const want = reference(y, mo, d, h, mi, s, fraction, zone, sep);
          const got = parseEventTime(value);
          if (!want.real || !want.zoneOk) expect(got.ok).toBe(false);
          else expect(got).toEqual({ ok: true, ms: want.ms });
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('leap days, zones across midnight and the epoch', () => {
    expect(parseEventTime('2024-02-29T00:00:00Z')).toEqual({ ok: true, ms: Date.UTC(2024, 1, 29) });
    expect(parseEventTime('2023-02-29T00:00:00Z').ok).toBe(false);
    expect(parseEventTime('2000-02-29T12:00:00+13:00')).toEqual({ ok: true, ms: Date.UTC(2000, 1, 28, 23) });
    expect(parseEventTime('1900-02-29T00:00:00Z').ok).toBe(false);
    expect(parseEventTime('1970-01-01T00:00:00.999999Z')).toEqual({ ok: true, ms: 999 });
    expect(parseEventTime('1970-01-01T01:00:00+01:00')).toEqual({ ok: true, ms: 0 });
  });
});
