import type { CompiledView } from '../../shared/views/index.js';
import type { AnswerRow } from './query.js';

/**
 * An answer as CSV (RFC 4180): a header of `bucket`, the dimensions grouped by and the
 * measures (a quantile measure one column per quantile, `name.q`), then a line per row;
 * null is an empty field.
 */
export function toCsv(view: CompiledView, groupBy: readonly string[], rows: readonly AnswerRow[]): string {
  const columns: Array<{ header: string; read: (row: AnswerRow) => unknown }> = [
    { header: 'bucket', read: (r) => r.bucket },
    ...groupBy.map((d) => ({ header: d, read: (r: AnswerRow) => r[d] })),
  ];
  for (const name of view.measureNames) {
    const spec = view.def.measures[name]!;
    if (spec.kind === 'quantile') {
      for (const q of spec.q) columns.push({ header: `${name}.${q}`, read: (r) => (r[name] as Record<string, unknown> | null)?.[String(q)] ?? null });
    } else columns.push({ header: name, read: (r) => r[name] });
  }
  const lines = [columns.map((c) => field(c.header)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => field(c.read(row))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function field(value: unknown): string {
  if (value === null || value === undefined) return '';
  // values and topk answer objects: written as their JSON text in one field.
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
