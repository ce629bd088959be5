/**
 * The erasure tests' search (issue 15): where each marker string occurs in a data directory
 * and a log. Every file as raw bytes (as Latin-1 and as UTF-16, so a string in either encoding
 * is found), every Parquet file decoded by DuckDB (compressed pages hide strings from a byte
 * search), and the log read through its own reader from the first record it holds (a Kafka
 * topic as read from its start).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { EventLog } from '../../shared/log/types.js';

export async function searchStores(dataDir: string, log: EventLog, markers: readonly string[]): Promise<{ found: Map<string, string[]>; parquetFiles: number }> {
  const found = new Map<string, string[]>();
  const hit = (text: string, where: string) => {
    for (const m of markers) if (text.includes(m)) found.set(m, [...(found.get(m) ?? []), where]);
  };
  const parquet: string[] = [];
  for (const file of await walk(dataDir)) {
    const bytes = await readFile(file);
    hit(bytes.toString('latin1'), `${file} (bytes)`);
    hit(bytes.toString('utf16le'), `${file} (bytes as UTF-16)`);
    if (file.endsWith('.parquet')) parquet.push(file);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const file of parquet) {
      const rows = (await connection.runAndReadAll('SELECT * FROM read_parquet($files, hive_partitioning = false)', { files: listValue([file]) }, { files: LIST(VARCHAR) })).getRows();
      hit(JSON.stringify(rows, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)), `${file} (decoded)`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  for await (const batch of log.read({ from: await log.startPosition(), until: await log.endPosition() })) {
    for (const r of batch) hit(`${r.key}\u0000${r.value.toString('utf8')}`, `${log.kind} log ${r.partition}:${r.offset} (read)`);
  }
  return { found, parquetFiles: parquet.length };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile() && (await stat(full)).size > 0) out.push(full);
  }
  return out;
}
