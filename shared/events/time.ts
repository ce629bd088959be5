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
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, reason: `"${clip(value)}" is not a real date and time` };
  }
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const h = Number(m[9]);
    const mm = Number(m[10]);
    if (h > 23 || mm > 59) return { ok: false, reason: `"${clip(value)}" has an impossible zone offset` };
    offsetMinutes = (m[8]!.charCodeAt(0) === 0x2d ? -1 : 1) * (h * 60 + mm);
  }
  // Milliseconds: the fraction's first three digits; finer ones are truncated, as Kafka does.
  const fraction = m[7];
  const millis = fraction === undefined ? 0 : Number(fraction.slice(1, 4).padEnd(3, '0'));
  // Integer arithmetic on the calendar (no Date object, no re-parse): what Date.parse gives.
  const ms = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + millis;
  return { ok: true, ms };
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
