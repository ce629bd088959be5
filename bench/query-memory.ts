/**
 * Bytes held per group by the structures that hold a view's groups: the map a live
 * segment folds into, and the ColumnTable a sealed segment and a loaded batch version hold. Measured in a fresh process
 * (`--expose-gc`) as heap plus array buffers before and after `groups` groups are built
 * and frozen (each view in a process of its own), for a count + sum view and for the 7-measure revenue view (count, sum, min,
 * max, avg, distinct, quantile), one hour bucket, keyed by a distinct id.
 */
import { compileView, freezeRows, parseViews, ViewTable, type ColumnTable, type CompiledView } from '../shared/views/index.js';
import { everyMeasure } from '../test/support/views.js';
import { round } from './report.js';

export const MEMORY_VIEWS = {
  countSum: { n: 'count', amount: { sum: 'data.amount' } },
  revenue: everyMeasure('data.amount', [0.5, 0.95, 0.99]),
} as const;

/** Heap plus array buffers, after collections (array buffers are freed off-thread: wait a little). */
const held = async () => {
  for (let i = 0; i < 3; i++) {
    global.gc!();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/**
 * Folds `groups` groups, then freezes them (what a sealed segment holds; a loaded batch
 * version is the same ColumnTable). In a function of its own, so that the folding map is
 * unreachable once it returns (a dead local of the caller's frame could keep it alive).
 */
async function build(view: CompiledView, groups: number, before: number): Promise<{ frozen: ColumnTable; foldingBytes: number }> {
  const time = Date.UTC(2026, 10, 27, 10);
  const folding = new ViewTable(view);
  for (let i = 0; i < groups; i++) {
    folding.add({ id: `order-${i}`, type: 'purchase', time, key: `user-${i}`, data: { country: `C${i % 10}`, amount: (i % 20_000) / 100 } }, { partition: 0, offset: i });
  }
  const foldingBytes = (await held()) - before;
  return { frozen: freezeRows(view, folding.rows.values()), foldingBytes };
}

/** One view's figures; run each view in a process of its own (what one leaves behind skews the next). */
export async function phaseMemory(groups: number, name: keyof typeof MEMORY_VIEWS): Promise<Record<string, unknown>> {
  const measures = MEMORY_VIEWS[name];
  const [view] = parseViews([{ name: 'per_id', events: ['purchase'], granularity: 'hour', dimensions: ['data.country', 'key'], measures }]).map(compileView);
  const before = await held();
  const { frozen, foldingBytes } = await build(view!, groups, before);
  const atRest = (await held()) - before;
  return {
    [name]: {
      measures: Object.keys(measures),
      groups: frozen.length,
      foldingBytesPerGroup: Math.round(foldingBytes / groups),
      heldBytesPerGroup: Math.round(atRest / groups),
      heldMB: round(atRest / 2 ** 20, 1),
      tableBytesPerGroup: Math.round(frozen.bytes / frozen.length),
    },
  };
}
