import { decodeEvent, EventScanner, isErasedValue } from '../shared/events/index.js';
import type { LogRecord } from '../shared/log/types.js';
import { ViewTable, viewKey, type CompiledView } from '../shared/views/index.js';
import { DedupeState } from './dedupe.js';

/**
 * One set of per-view aggregates, keyed by `viewKey` (name@definition version): the unit the
 * speed layer seals at a cut and drops later.
 */
export type Tables = Map<string, ViewTable>;

export function emptyTables(views: readonly CompiledView[]): Tables {
  return new Map(views.map((v) => [viewKey(v), new ViewTable(v)]));
}

export interface FoldCounts {
  folded: number;
  duplicates: number;
}

/**
 * The stream fold shared by the speed layer and Kappa replay: dedupe (contract §3),
 * then every view's measures. `warm` feeds the dedupe state without counting, for the
 * records before the speed layer's start that may still make later ones duplicates.
 */
export class Folder {
  readonly views: readonly CompiledView[];
  readonly dedupe: DedupeState;
  /** decodes only what the views read (shared/events/scan.ts) */
  readonly #scanner: EventScanner;

  constructor(views: readonly CompiledView[], dedupe: DedupeState) {
    this.views = views;
    this.dedupe = dedupe;
    this.#scanner = new EventScanner(views.flatMap((v) => v.paths));
  }

  fold(records: readonly LogRecord[], into: Tables, counts: FoldCounts): void {
    for (const record of records) {
      // An erased record (lambda/erasure.ts) is no record: not counted, not a duplicate, no id.
      if (isErasedValue(record.value)) continue;
      const event = this.#scanner.scan(record.value);
      if (this.dedupe.check(record.partition, event.id, record.appendTime)) {
        counts.duplicates++;
        continue;
      }
      counts.folded++;
      const place = { time: event.time, partition: record.partition, offset: record.offset };
      for (const table of into.values()) table.add(event, record, place);
    }
  }

  warm(records: readonly LogRecord[]): void {
    for (const record of records) if (!isErasedValue(record.value)) this.dedupe.check(record.partition, idOf(record.value), record.appendTime);
  }
}

/**
 * The id of a stored event without parsing all of it: braid writes `{"id":...` first
 * (shared/events/event.ts), so the id is the first JSON string.
 */
function idOf(value: Buffer): string {
  const text = value.toString('utf8', 0, Math.min(value.length, 1_024));
  const m = /^\{"id":("(?:[^"\\]|\\.)*")/.exec(text);
  return m ? (JSON.parse(m[1]!) as string) : decodeEvent(value).id;
}
