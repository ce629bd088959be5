/**
 * Bytes held per group by the structures that hold a view's groups: the map a live
 * segment folds into, and the ColumnTable a sealed segment and a loaded batch version hold. Measured in a fresh process
 * (`--expose-gc`) as heap plus array buffers before and after `groups` groups are built
 * and frozen, for a count + sum view and for the 7-measure revenue view (count, sum, min,
 * max, avg, distinct, quantile), one hour bucket, keyed by a distinct id.
 */
import { compileView, freezeRows, parseViews, ViewTable } from '../shared/views/index.js';
import { everyMeasure } from '../test/support/views.js';
import { round } from './report.js';

const MEMORY_VIEWS = {
  countSum: { n: 'count', amount: { sum: 'data.amount' } },
  revenue: everyMeasure('data.amount', [0.5, 0.95, 0.99]),
} as const;

const held = () => {
  global.gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

export async function phaseMemory(groups: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [name, measures] of Object.entries(MEMORY_VIEWS)) {
    const [view] = parseViews([{ name: 'per_id', events: ['purchase'], granularity: 'hour', dimensions: ['data.country', 'key'], measures }]).map(compileView);
    const time = Date.UTC(2026, 10, 27, 10);
    const before = held();
    let folding: ViewTable | undefined = new ViewTable(view!);
    for (let i = 0; i < groups; i++) {
      folding.add({ id: `order-${i}`, type: 'purchase', time, key: `user-${i}`, data: { country: `C${i % 10}`, amount: (i % 20_000) / 100 } });
    }
    const foldingBytes = held() - before;
    // What a sealed segment holds (a loaded batch version is the same ColumnTable).
    const frozen = freezeRows(view!, folding.rows.values());
    folding = undefined;
    const atRest = held() - before;
    out[name] = {
      measures: Object.keys(measures),
      groups: frozen.length,
      foldingBytesPerGroup: Math.round(foldingBytes / groups),
      heldBytesPerGroup: Math.round(atRest / groups),
      heldMB: round(atRest / 2 ** 20, 1),
      tableBytesPerGroup: Math.round(frozen.bytes / frozen.length),
    };
  }
  return out;
}
