import type { ViewDefinition } from '../../shared/views/index.js';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BraidError } from '../../shared/errors.js';
import { isMissing, openSealedJson, sealJson, sha256File, syncPath, writeFileDurably } from '../../shared/files.js';
import type { Position } from '../../shared/log/types.js';

/**
 * The batch views on disk:
 *
 *   <dataDir>/batch/CURRENT.json                       the serving version (atomic rename)
 *   <dataDir>/batch/versions/<version, 10 digits>/     one immutable version:
 *       version.json                                   VersionManifest
 *       <view>.parquet                                 the view's states (sql.ts, versionColumns)
 *   <dataDir>/batch/versions/.tmp-<version>/           a version being written
 *   <dataDir>/batch/tmp/                               DuckDB's spill space during a run
 *
 * A version directory appears under its number only once complete and fsynced; it serves
 * only once CURRENT.json names it. A crash at any point leaves CURRENT.json naming a
 * complete version; what it leaves besides (.tmp-*, or a complete but unpublished number
 * above the current one) is removed when the next runner starts.
 */
export interface VersionLayout {
  readonly batchDir: string;
  readonly versionsDir: string;
  readonly currentFile: string;
  readonly tempDir: string;
}

export function versionLayout(dataDir: string): VersionLayout {
  const batchDir = path.join(dataDir, 'batch');
  return {
    batchDir,
    versionsDir: path.join(batchDir, 'versions'),
    currentFile: path.join(batchDir, 'CURRENT.json'),
    tempDir: path.join(batchDir, 'tmp'),
  };
}

export const versionDirName = (version: number): string => String(version).padStart(10, '0');
const TEMP_PREFIX = '.tmp-';
export const tempVersionDirName = (version: number): string => `${TEMP_PREFIX}${versionDirName(version)}`;

/** CURRENT.json */
export interface CurrentPointer {
  readonly version: number;
  readonly snapshot: Position;
  readonly createdAt: string;
}

/** One Parquet file of a view in a version. */
export interface VersionFile {
  readonly file: string;
  readonly rows: number;
  /** SHA-256 of the file, hex (absent in versions written before files were hashed) */
  readonly sha256?: string;
}

/** How a version was computed: from every record below S, or from the previous version and the records after its S. */
export const RunModes = ['full', 'incremental'] as const;
export type RunMode = (typeof RunModes)[number];

/** version.json */
export interface VersionManifest extends CurrentPointer {
  /** absent in versions written before incremental runs: full */
  readonly mode?: RunMode;
  /** the dedupe window the version was computed with, ms or 'forever' */
  readonly dedupeWindowMs: number | 'forever';
  /** per view: what it was computed with (the whole definition, so an older one can still be served) */
  readonly views: Record<
    string,
    VersionFile & {
      readonly definitionVersion: string;
      readonly definition?: ViewDefinition;
      /**
       * The states of each incremental run since the last full one, oldest first: the view
       * is `file` merged with each in turn (the files are hard links to the earlier
       * versions' own, so a version is still one self-contained directory).
       */
      readonly deltas?: readonly VersionFile[];
    }
  >;
}

/** A view's files in a version, the full run's first, then each delta in order. */
export function viewFiles(view: VersionManifest['views'][string]): VersionFile[] {
  return [{ file: view.file, rows: view.rows, ...(view.sha256 === undefined ? {} : { sha256: view.sha256 }) }, ...(view.deltas ?? [])];
}

export async function readCurrent(layout: VersionLayout): Promise<CurrentPointer | undefined> {
  let text: string;
  try {
    text = await readFile(layout.currentFile, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const pointer = parseSealed(text, layout.currentFile) as Partial<CurrentPointer>;
  if (!Number.isSafeInteger(pointer.version) || typeof pointer.snapshot !== 'object' || typeof pointer.createdAt !== 'string') {
    throw corrupt(layout.currentFile, 'it lacks version, snapshot or createdAt');
  }
  return pointer as CurrentPointer;
}

export async function readManifest(layout: VersionLayout, version: number): Promise<VersionManifest> {
  const file = path.join(layout.versionsDir, versionDirName(version), 'version.json');
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw isMissing(err) ? corrupt(file, 'it is missing') : err;
  });
  const manifest = parseSealed(text, file) as Partial<VersionManifest>;
  if (manifest.version !== version || typeof manifest.views !== 'object' || manifest.views === null) throw corrupt(file, `it does not describe version ${version}`);
  return manifest as VersionManifest;
}

/** Checks that every view file of a version is there with the hash its version.json lists. */
export async function checkVersionFiles(layout: VersionLayout, manifest: VersionManifest): Promise<void> {
  const dir = path.join(layout.versionsDir, versionDirName(manifest.version));
  for (const [name, view] of Object.entries(manifest.views)) {
    for (const stored of viewFiles(view)) {
      const file = path.join(dir, stored.file);
      const sha256 = await sha256File(file).catch((err: unknown) => {
        throw isMissing(err) ? corrupt(file, `a file of view "${name}" is missing`) : err;
      });
      if (stored.sha256 !== undefined && sha256 !== stored.sha256) throw corrupt(file, `a file of view "${name}" does not match its SHA-256`);
    }
  }
}

function parseSealed(text: string, file: string): unknown {
  const opened = openSealedJson(text);
  if (opened.problem !== undefined) throw corrupt(file, opened.problem);
  return opened.value;
}

/** A version that fails its checks: derived data, so it is discarded and computed again (runner.ts). */
function corrupt(file: string, why: string): BraidError {
  return new BraidError('version_corrupt', `batch: ${file} is damaged (${why}); the version is discarded and a batch run computes it again`);
}

/** Version numbers of the complete version directories, ascending. */
export async function listVersions(layout: VersionLayout): Promise<number[]> {
  const names = await readdir(layout.versionsDir).catch((err: unknown) => (isMissing(err) ? [] : Promise.reject(err)));
  return names.filter((n) => /^\d{10}$/.test(n)).map(Number).sort((a, b) => a - b);
}

/**
 * Seals a fully written temp version directory: fsyncs its files and its version.json,
 * then renames it to its number. Not yet serving: publishCurrent does that.
 */
export async function sealVersion(layout: VersionLayout, tempDir: string, unhashed: VersionManifest): Promise<VersionManifest> {
  const views: Record<string, VersionManifest['views'][string]> = {};
  const hashed = async (stored: VersionFile): Promise<string> => {
    if (stored.sha256 !== undefined) return stored.sha256; // a delta linked from an earlier version, checked when that one loaded
    await syncPath(path.join(tempDir, stored.file));
    return sha256File(path.join(tempDir, stored.file));
  };
  for (const [name, view] of Object.entries(unhashed.views)) {
    const deltas = view.deltas ? await Promise.all(view.deltas.map(async (d) => ({ ...d, sha256: await hashed(d) }))) : undefined;
    views[name] = { ...view, sha256: await hashed(view), ...(deltas ? { deltas } : {}) };
  }
  const manifest = { ...unhashed, views };
  await writeFileDurably(tempDir, path.join(tempDir, 'version.json'), sealJson(manifest));
  const finalDir = path.join(layout.versionsDir, versionDirName(manifest.version));
  await rename(tempDir, finalDir);
  await syncPath(layout.versionsDir);
  return manifest;
}

/** Makes `pointer` the serving version: temp file, fsync, rename over CURRENT.json, fsync the directory. */
export async function publishCurrent(layout: VersionLayout, pointer: CurrentPointer): Promise<void> {
  await writeFileDurably(layout.batchDir, layout.currentFile, sealJson(pointer));
}

export async function ensureLayout(layout: VersionLayout): Promise<void> {
  await mkdir(layout.versionsDir, { recursive: true });
}

/**
 * Removes what a crashed run left: temp version directories, a complete version that
 * was never published (numbered above the current one), CURRENT.json's temp file and
 * DuckDB's spill files. Returns the names removed.
 */
export async function removeLeftovers(layout: VersionLayout, current: number | undefined): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(layout.versionsDir).catch((err: unknown) => (isMissing(err) ? [] : Promise.reject(err)));
  for (const name of names) {
    const unpublished = /^\d{10}$/.test(name) && Number(name) > (current ?? 0);
    if (name.startsWith(TEMP_PREFIX) || unpublished) {
      await rm(path.join(layout.versionsDir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  // A publish cut short leaves its temp pointer (CURRENT.json.<pid>.tmp) beside CURRENT.json.
  const pointerTemps = (await readdir(layout.batchDir)).filter((n) => n.startsWith(`${path.basename(layout.currentFile)}.`) && n.endsWith('.tmp'));
  await Promise.all(pointerTemps.map((n) => rm(path.join(layout.batchDir, n), { force: true })));
  await rm(layout.tempDir, { recursive: true, force: true });
  return removed;
}

/** Deletes all but the newest `keep` versions up to the current one; never the current one. */
export async function pruneVersions(layout: VersionLayout, current: number, keep: number): Promise<number[]> {
  const older = (await listVersions(layout)).filter((v) => v < current);
  const doomed = older.slice(0, Math.max(0, older.length - (keep - 1)));
  for (const v of doomed) await rm(path.join(layout.versionsDir, versionDirName(v)), { recursive: true, force: true });
  return doomed;
}
