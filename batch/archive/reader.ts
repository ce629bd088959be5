import { DuckDBInstance } from '@duckdb/node-api';
import { BIGINT, INTEGER, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { LogRecord, Position } from '../../shared/log/types.js';
import type { ArchiveLease } from './format.js';

/**
 * The archive read back as log records: per partition, the records in [from, until) in
 * offset order, each as the log held it (its partition, offset, append time, record key and
 * braid's stored JSON, rebuilt field for field in the order braid writes it). What a Kappa
 * replay reads for the records the log no longer holds under `log.retention`, through the same
 * fold as the log's.
 */
export async function* readArchived(lease: Pick<ArchiveLease, 'files' | 'paths'>, from: Position, until: Position, maxBatch = 5_000): AsyncGenerator<LogRecord[]> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [p, end] of Object.entries(until)) {
      const partition = Number(p);
      const start = from[partition] ?? 0;
      if (end <= start) continue;
      const files = lease.files.flatMap((f, i) => (f.partition === partition && f.to > start && f.from < end ? [lease.paths[i]!] : []));
      if (files.length === 0) continue;
      const result = await connection.stream(
        `SELECT "offset", append_time, id, type, time, key, data FROM read_parquet($files, hive_partitioning = false)
         WHERE partition = $partition AND "offset" >= $start AND "offset" < $end ORDER BY "offset"`,
        { files: listValue(files), partition, start: BigInt(start), end: BigInt(end) },
        { files: LIST(VARCHAR), partition: INTEGER, start: BIGINT, end: BIGINT },
      );
      let batch: LogRecord[] = [];
      let next = start;
      for await (const chunk of result) {
        const [offsets, appendTimes, ids, types, times, keys, datas] = Array.from({ length: 7 }, (_, c) => chunk.getColumnVector(c));
        for (let row = 0; row < chunk.rowCount; row++) {
          const offset = Number(offsets!.getItem(row) as bigint);
          if (offset !== next) throw new Error(`archive: partition ${partition} has offset ${offset} where ${next} was expected`);
          next++;
          const id = ids!.getItem(row) as string;
          const key = keys!.getItem(row) as string | null;
          const data = datas!.getItem(row) as string | null;
          const text = `{"id":${JSON.stringify(id)},"type":${JSON.stringify(types!.getItem(row) as string)},"time":${Number(times!.getItem(row) as bigint)}${
            key === null ? '' : `,"key":${JSON.stringify(key)}`
          }${data === null ? '' : `,"data":${data}`}}`;
          batch.push({ partition, offset, appendTime: Number(appendTimes!.getItem(row) as bigint), key: key ?? id, value: Buffer.from(text, 'utf8') });
          if (batch.length >= maxBatch) {
            yield batch;
            batch = [];
          }
        }
      }
      if (batch.length > 0) yield batch;
      if (next !== end) throw new Error(`archive: partition ${partition} ends at offset ${next}, not at ${end}: the archive does not hold what the log deleted`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A subject's archived records, and every archived record sharing an id with one of them in its partition (what the dedupe rule compares them with). */
export interface SubjectArchive {
  readonly records: ReadonlyArray<{ partition: number; offset: number; appendTime: number; id: string; type: string; time: number; key: string | null; data: string | null }>;
  readonly sameIds: ReadonlyArray<{ partition: number; offset: number; appendTime: number; id: string }>;
}

/** The archived records of a subject (`coalesce(key, id)`), in partition and offset order. */
export async function readSubjectArchived(
  lease: Pick<ArchiveLease, 'paths'>,
  subject: string,
  /** more (partition, id) pairs whose archived records to return in `sameIds`: the subject's records the log holds after the archive */
  alsoIds: ReadonlyArray<{ partition: number; id: string }> = [],
): Promise<SubjectArchive> {
  if (lease.paths.length === 0) return { records: [], sameIds: [] };
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  try {
    const files = { files: listValue([...lease.paths]), subject };
    const types = { files: LIST(VARCHAR), subject: VARCHAR };
    await connection.run(
      `CREATE TEMP TABLE subject_records AS SELECT partition, "offset", append_time, id, type, time, key, data
       FROM read_parquet($files, hive_partitioning = false) WHERE coalesce(key, id) = $subject`,
      files,
      types,
    );
    const records = (await connection.runAndReadAll('SELECT * FROM subject_records ORDER BY partition, "offset"')).getRows().map(([partition, offset, appendTime, id, type, time, key, data]) => ({
      partition: Number(partition),
      offset: Number(offset),
      appendTime: Number(appendTime),
      id: id as string,
      type: type as string,
      time: Number(time),
      key: key as string | null,
      data: data as string | null,
    }));
    await connection.run(
      'CREATE TEMP TABLE also_ids AS SELECT unnest($partitions) AS partition, unnest($ids) AS id',
      { partitions: listValue(alsoIds.map((a) => a.partition)), ids: listValue(alsoIds.map((a) => a.id)) },
      { partitions: LIST(INTEGER), ids: LIST(VARCHAR) },
    );
    const sameIds = (
      await connection.runAndReadAll(
        `SELECT r.partition, r."offset", r.append_time, r.id FROM read_parquet($files, hive_partitioning = false) r
         SEMI JOIN (SELECT DISTINCT partition, id FROM subject_records UNION SELECT partition, id FROM also_ids) s USING (partition, id)`,
        { files: files.files },
        { files: types.files },
      )
    )
      .getRows()
      .map(([partition, offset, appendTime, id]) => ({ partition: Number(partition), offset: Number(offset), appendTime: Number(appendTime), id: id as string }));
    return { records, sameIds };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The first archived offset of `partition` below `below` whose record was appended at or after
 * `time`, or undefined when none was: `offsetsAt` for the part of a partition the log no
 * longer holds. Reads only the files whose latest append time reaches `time`.
 */
export async function firstArchivedAt(lease: Pick<ArchiveLease, 'files' | 'paths'>, partition: number, time: number, below: number): Promise<number | undefined> {
  const files = lease.files.flatMap((f, i) => (f.partition === partition && f.from < below && (f.maxAppendTime ?? Infinity) >= time ? [lease.paths[i]!] : []));
  if (files.length === 0) return undefined;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    const [row] = (
      await connection.runAndReadAll(
        `SELECT min("offset") FROM read_parquet($files, hive_partitioning = false) WHERE partition = $partition AND append_time >= $time AND "offset" < $below`,
        { files: listValue(files), partition, time: BigInt(Math.floor(time)), below: BigInt(below) },
        { files: LIST(VARCHAR), partition: INTEGER, time: BIGINT, below: BIGINT },
      )
    ).getRows();
    return row?.[0] === null || row?.[0] === undefined ? undefined : Number(row[0] as bigint);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
