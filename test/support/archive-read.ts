/**
 * Helpers for the archive tests: real stored events, the archive's Parquet read back with
 * a DuckDB of the test's own, the log read independently, and the manifest's invariants
 * checked without the archiver's own code.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { expect } from 'vitest';
import type { ArchiveFile, Manifest } from '../../batch/archive/index.js';
import type { StoredEvent } from '../../shared/events/index.js';
import type { EventLog, Position } from '../../shared/log/types.js';

/** One archive row as plain JS values, in ARCHIVE_COLUMNS' order. */
export interface Row {
  partition: number;
  offset: number;
  append_time: number;
  id: string;
  type: string;
  time: number;
  key: string | null;
  data: string | null;
}

let connection: Promise<DuckDBConnection> | undefined;

function duckdb(): Promise<DuckDBConnection> {
  connection ??= DuckDBInstance.create(':memory:').then((db) => db.connect());
  return connection;
}

/** Every row of the files, ordered by (partition, offset). */
export async function readParquetRows(paths: readonly string[]): Promise<Row[]> {
  if (paths.length === 0) return [];
  const db = await duckdb();
  const list = paths.map((p) => `'${p.replaceAll("'", "''")}'`).join(', ');
  const reader = await db.runAndReadAll(`SELECT * FROM read_parquet([${list}], hive_partitioning = false) ORDER BY "partition", "offset"`);
  return reader.getRowObjectsJS().map((r) => ({
    partition: Number(r.partition),
    offset: Number(r.offset),
    append_time: Number(r.append_time),
    id: r.id as string,
    type: r.type as string,
    time: Number(r.time),
    key: r.key as string | null,
    data: r.data as string | null,
  }));
}

/** Column names and DuckDB types of the files, as [name, type] pairs. */
export async function parquetColumns(paths: readonly string[]): Promise<[string, string][]> {
  const db = await duckdb();
  const list = paths.map((p) => `'${p.replaceAll("'", "''")}'`).join(', ');
  const reader = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet([${list}], hive_partitioning = false)`);
  return reader.getRows().map((r) => [String(r[0]), String(r[1])]);
}

/**
 * The log's records below `until`, decoded here (not by the archiver): rows ordered by
 * (partition, offset), and each record's stored value by "partition:offset".
 */
export async function readLog(log: EventLog, until: Position): Promise<{ rows: Row[]; values: Map<string, string> }> {
  const rows: Row[] = [];
  const values = new Map<string, string>();
  for await (const batch of log.read({ until })) {
    for (const r of batch) {
      const text = r.value.toString('utf8');
      const event = JSON.parse(text) as StoredEvent;
      values.set(`${r.partition}:${r.offset}`, text);
      rows.push({
        partition: r.partition,
        offset: r.offset,
        append_time: r.appendTime,
        id: event.id,
        type: event.type,
        time: event.time,
        key: event.key ?? null,
        data: event.data === undefined ? null : JSON.stringify(event.data),
      });
    }
  }
  rows.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return { rows, values };
}

/** The stored form rebuilt from an archive row: must equal the log's record value byte for byte. */
export function storedForm(row: Row): string {
  const event: Record<string, unknown> = { id: row.id, type: row.type, time: row.time };
  if (row.key !== null) event.key = row.key;
  if (row.data !== null) event.data = JSON.parse(row.data);
  return JSON.stringify(event);
}

/**
 * Asserts the archive's rows are exactly the log's: the same (partition, offset) set, each
 * once, every field equal, and the stored form rebuilt from the columns byte-equal to the
 * log's record. Compares in slices so that a failure prints a readable diff.
 */
export function expectSameRecords(archived: readonly Row[], log: { rows: readonly Row[]; values: ReadonlyMap<string, string> }): void {
  const places = new Set(archived.map((r) => `${r.partition}:${r.offset}`));
  expect(places.size, 'no (partition, offset) is archived twice').toBe(archived.length);
  expect(archived.length, 'as many rows as the log has records').toBe(log.rows.length);
  for (let i = 0; i < log.rows.length; i += 1_000) {
    expect(archived.slice(i, i + 1_000)).toEqual(log.rows.slice(i, i + 1_000));
  }
  const differing = archived.filter((r) => storedForm(r) !== log.values.get(`${r.partition}:${r.offset}`));
  expect(differing.slice(0, 3), 'the stored form rebuilt from the columns equals the log record').toEqual([]);
}

/** The files hold exactly the log's records below `until`. */
export async function expectArchived(paths: readonly string[], log: EventLog, until: Position): Promise<void> {
  expectSameRecords(await readParquetRows(paths), await readLog(log, until));
}

/**
 * The manifest's invariants, checked independently of the archiver: per partition the
 * ranges are contiguous from 0, each file named after its range, sorted. Returns the position.
 */
export function expectContiguous(manifest: Manifest): Position {
  const position: Position = {};
  for (let p = 0; p < manifest.partitions; p++) position[p] = 0;
  let previous: ArchiveFile | undefined;
  for (const f of manifest.files) {
    expect(f.from, `${f.path} starts where its partition's previous file ends`).toBe(position[f.partition]);
    expect(f.to).toBeGreaterThan(f.from);
    expect(f.records).toBeGreaterThan(0);
    expect(f.records).toBeLessThanOrEqual(f.to - f.from);
    expect(f.path).toBe(`partition=${f.partition}/${String(f.from).padStart(20, '0')}-${String(f.to).padStart(20, '0')}.parquet`);
    if (previous) expect(previous.partition <= f.partition).toBe(true);
    position[f.partition] = f.to;
    previous = f;
  }
  return position;
}

/** Paths (relative, '/'-separated) of every file under the archive's partition directories. */
export async function filesOnDisk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || !entry.name.startsWith('partition=')) continue;
    for (const name of await readdir(path.join(dir, entry.name))) out.push(`${entry.name}/${name}`);
  }
  return out.sort();
}
