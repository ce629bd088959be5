/**
 * Event time: RFC 3339 with a zone ("2026-11-27T10:15:00.123Z", "...+01:00") or integer
 * epoch milliseconds. Stored as epoch ms.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

export type TimeParse = { ok: true; ms: number } | { ok: false; reason: string };

export function parseEventTime(value: unknown): TimeParse {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      return { ok: false, reason: 'epoch milliseconds must be an integer' };
    }
    return { ok: true, ms: value };
  }
  if (typeof value !== 'string') {
    return { ok: false, reason: 'must be an RFC 3339 string with a zone or integer epoch milliseconds' };
  }
  const m = RFC3339.exec(value);
  if (!m) {
    return {
      ok: false,
      reason: `"${clip(value)}" is not RFC 3339 with a zone; send e.g. "2026-11-27T10:15:00.123Z" or epoch milliseconds`,
    };
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, reason: `"${clip(value)}" is not a real date and time` };
  }
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) {
    return { ok: false, reason: `"${clip(value)}" has an impossible zone offset` };
  }
  // Date.parse keeps millisecond precision; finer fractions are truncated, as Kafka does.
  const ms = Date.parse(value.replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(ms)) return { ok: false, reason: `"${clip(value)}" could not be parsed` };
  return { ok: true, ms };
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
