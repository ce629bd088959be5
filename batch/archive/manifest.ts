import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BraidError } from '../../shared/errors.js';
import { openSealedJson, sealJson } from '../../shared/files.js';
import type { Position } from '../../shared/log/types.js';
import { installFile, isMissing } from './files.js';
import { fileName, type ArchiveFile, type Manifest } from './format.js';

export const MANIFEST_FILE = 'manifest.json';

export function emptyManifest(partitions: number): Manifest {
  return { generation: 0, partitions, files: [] };
}

/** partition → next offset not yet archived: the `to` of each partition's last file. */
export function positionOf(manifest: Manifest): Position {
  const position: Position = {};
  for (let p = 0; p < manifest.partitions; p++) position[p] = 0;
  for (const file of manifest.files) position[file.partition] = file.to;
  return position;
}

export function totalRecords(files: readonly ArchiveFile[]): number {
  return files.reduce((sum, f) => sum + f.records, 0);
}

/**
 * `<dir>/manifest.json`, its seal and invariants checked; undefined when there is none (a new
 * archive). `unsealed`: written before manifests were sealed (and its files hashed).
 */
export async function openManifest(dir: string): Promise<{ manifest: Manifest; unsealed: boolean } | undefined> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const opened = openSealedJson(text);
  if (opened.problem !== undefined) throw corrupt(file, opened.problem);
  checkManifest(opened.value, file, opened.unsealed === true);
  return { manifest: opened.value, unsealed: opened.unsealed === true };
}

/** `<dir>/manifest.json`, checked; undefined when there is none. */
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  return (await openManifest(dir))?.manifest;
}

/** Replaces `<dir>/manifest.json` atomically and durably, sealed with its SHA-256. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const file = path.join(dir, MANIFEST_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, sealJson(manifest));
  await installFile(temp, file);
}

/**
 * The manifest's invariants (format.ts): files sorted by partition then offset, each named
 * after its range, and per partition contiguous from offset 0, so that the archive has no
 * gap and no double by construction.
 */
export function checkManifest(value: unknown, where: string, unsealed = false): asserts value is Manifest {
  const m = value as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object') throw corrupt(where, 'it is not an object');
  if (!isCount(m.generation)) throw corrupt(where, `generation is ${String(m.generation)}`);
  if (!isCount(m.partitions) || m.partitions < 1) throw corrupt(where, `partitions is ${String(m.partitions)}`);
  if (!Array.isArray(m.files)) throw corrupt(where, 'files is not a list');
  const next = new Array<number>(m.partitions).fill(0);
  let lastPartition = 0;
  m.files.forEach((f: Partial<ArchiveFile>, i) => {
    const what = `files[${i}]`;
    if (f === null || typeof f !== 'object') throw corrupt(where, `${what} is not an object`);
    const { partition, from, to, records, bytes } = f;
    if (!isCount(partition) || partition >= m.partitions!) throw corrupt(where, `${what}.partition is ${String(partition)}`);
    if (!isCount(from) || !isCount(to) || from >= to) throw corrupt(where, `${what} covers [${String(from)}, ${String(to)})`);
    if (!isCount(records) || records < 1 || records > to - from) throw corrupt(where, `${what} has ${String(records)} records for [${from}, ${to})`);
    if (!isCount(bytes) || bytes < 1) throw corrupt(where, `${what}.bytes is ${String(bytes)}`);
    if (f.maxAppendTime !== undefined && !Number.isSafeInteger(f.maxAppendTime)) throw corrupt(where, `${what}.maxAppendTime is ${JSON.stringify(f.maxAppendTime)}`);
    // A manifest from before files were hashed has none; its files are hashed when it opens.
    if (!(unsealed && f.sha256 === undefined) && !(typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256))) {
      throw corrupt(where, `${what}.sha256 is ${JSON.stringify(f.sha256)}`);
    }
    if (f.rewrite !== undefined && !(Number.isSafeInteger(f.rewrite) && f.rewrite > 0)) throw corrupt(where, `${what}.rewrite is ${JSON.stringify(f.rewrite)}`);
    if (f.path !== fileName(partition, from, to, f.rewrite)) throw corrupt(where, `${what}.path is ${JSON.stringify(f.path)}, not ${fileName(partition, from, to, f.rewrite)}`);
    if (partition < lastPartition) throw corrupt(where, `${what} is out of order (partition ${partition} after ${lastPartition})`);
    if (from !== next[partition]) {
      const problem = from > next[partition]! ? 'a gap' : 'an overlap';
      throw corrupt(where, `${what} starts at offset ${from} of partition ${partition} where ${next[partition]} was expected (${problem})`);
    }
    next[partition] = to;
    lastPartition = partition;
  });
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function corrupt(where: string, problem: string): BraidError {
  return new BraidError(
    'archive_corrupt',
    `archive manifest ${where}: ${problem}; move the archive directory aside and restart: the archiver rebuilds it from the log`,
  );
}
