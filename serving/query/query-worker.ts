import { Slices } from '../../shared/async.js';
import { ColumnTable, compileView, definitionVersion, mergeTables, type CompiledView, type TableParts, type ViewDefinition } from '../../shared/views/index.js';
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
  /** each new table as its parts, or as the merge of two tables the thread holds (what the main thread did to make it) */
  readonly add: ReadonlyArray<{ readonly id: number; readonly def: ViewDefinition } & ({ readonly parts: TableParts } | { readonly merge: readonly [number, number] })>;
  readonly drop: readonly number[];
  readonly def: ViewDefinition;
  readonly tables: readonly number[];
  readonly query: ViewQuery;
}

/** The tables this thread holds, by the main thread's id: immutable copies of the main thread's. */
const tables = new Map<number, ColumnTable | Promise<ColumnTable>>();
const views = new Map<string, CompiledView>();
// Queries in this thread share it in slices, as they share the event loop on the main thread.
const slices = new Slices(5);
let engine: QueryEngine | undefined;

/** The definition compiled once per version (a job names its view's definition each time). */
function compiled(def: ViewDefinition): CompiledView {
  const key = `${def.name}@${definitionVersion(def)}`;
  let view = views.get(key);
  if (!view) views.set(key, (view = compileView(def)));
  return view;
}

function held(id: number): ColumnTable | Promise<ColumnTable> {
  const table = tables.get(id);
  if (!table) throw new Error(`the query thread does not hold table ${id}; it was dropped or never sent`);
  return table;
}

export async function work(job: QueryJob): Promise<{ output: Answered; transfer: ArrayBuffer[] }> {
  // Everything up to the first await runs before the next job's message is read, so the
  // tables a later job names are in place by then (a merge as its promise), and a drop never
  // takes one from a job that already began: it holds its tables itself.
  for (const t of job.add) {
    if ('parts' in t) {
      tables.set(t.id, ColumnTable.fromParts(compiled(t.def), t.parts));
      continue;
    }
    const [a, b] = t.merge.map(held);
    // The same merge as the main thread's, so the same table; made here, on this thread's core.
    const merged = Promise.all([a, b]).then(([x, y]) => mergeTables(x!, y!, slices.pause));
    merged.catch(() => undefined);
    tables.set(t.id, merged);
  }
  for (const id of job.drop) tables.delete(id);
  const mine = await Promise.all(job.tables.map(held));
  engine ??= new QueryEngine({ cache: new QueryCache(job.cacheBytes), pause: slices.pause });
  const output = await engine.answer(compiled(job.def), mine, job.query);
  return { output, transfer: [] };
}
