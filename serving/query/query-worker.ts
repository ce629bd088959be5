import { Slices } from '../../shared/async.js';
import { ColumnTable, compileView, viewKey, type CompiledView, type TableParts, type ViewDefinition } from '../../shared/views/index.js';
import { QueryCache } from './cache.js';
import { QueryEngine } from './engine.js';
import type { Answered, ViewQuery } from './query.js';

/**
 * One query for a query thread (serving/query/threads.ts): the tables it is sent for the
 * first time, the ones it may forget, and the query over tables it holds, by the main
 * thread's table ids.
 */
export interface QueryJob {
  /** the thread's cache bound (the same in every job; the first one sets it) */
  readonly cacheBytes: number;
  readonly add: ReadonlyArray<{ readonly id: number; readonly def: ViewDefinition; readonly parts: TableParts }>;
  readonly drop: readonly number[];
  readonly def: ViewDefinition;
  readonly tables: readonly number[];
  readonly query: ViewQuery;
}

/** The tables this thread holds, by the main thread's id: immutable copies of the main thread's. */
const tables = new Map<number, ColumnTable>();
const views = new Map<string, CompiledView>();
// Queries in this thread share it in slices, as they share the event loop on the main thread.
const slices = new Slices(5);
let engine: QueryEngine | undefined;

function compiled(def: ViewDefinition): CompiledView {
  const fresh = compileView(def);
  const key = viewKey(fresh);
  const known = views.get(key);
  if (known) return known;
  views.set(key, fresh);
  return fresh;
}

export async function work(job: QueryJob): Promise<{ output: Answered; transfer: ArrayBuffer[] }> {
  // Everything up to the first await runs before the next job's message is read, so the
  // tables a later job names are in place by then, and a drop never takes one from a job
  // that already began: it holds its tables itself.
  for (const id of job.drop) tables.delete(id);
  for (const t of job.add) tables.set(t.id, ColumnTable.fromParts(compiled(t.def), t.parts));
  const mine = job.tables.map((id) => {
    const table = tables.get(id);
    if (!table) throw new Error(`the query thread does not hold table ${id}; it was dropped or never sent`);
    return table;
  });
  engine ??= new QueryEngine({ cache: new QueryCache(job.cacheBytes), pause: slices.pause });
  const output = await engine.answer(compiled(job.def), mine, job.query);
  return { output, transfer: [] };
}
