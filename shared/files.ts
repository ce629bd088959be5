import { createHash } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Durable file steps shared by the embedded log, the archive and the batch versions: every
 * "a crash leaves the old state or the new one" in braid is built from these.
 */

/** fsync a file's data, or a directory's entries (created, renamed, removed files). */
export async function syncPath(target: string): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Puts a fully written temp file in place: fsync it, rename it over `target`, fsync the directory. */
export async function installFile(temp: string, target: string): Promise<void> {
  await syncPath(temp);
  await rename(temp, target);
  await syncPath(path.dirname(target));
}

/** Replaces `target` atomically with `data`, durable once this resolves (unless `sync` is false). */
export async function writeFileDurably(dir: string, target: string, data: string | Buffer, sync = true): Promise<void> {
  const tmp = `${target}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, target);
  if (sync) await syncPath(dir);
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export function ignoreMissing(err: unknown): undefined {
  if (isMissing(err)) return undefined;
  throw err;
}

export async function unlinkIfPresent(target: string): Promise<void> {
  await unlink(target).catch(ignoreMissing);
}

/** The SHA-256 of a file's bytes, hex; read as a stream. */
export async function sha256File(target: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(target, 'r');
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) hash.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * A JSON document that carries the SHA-256 of its own text: `{ ...value, "sha256": "…" }`,
 * where the hash is over `JSON.stringify(value)`. What braid writes and later trusts
 * (manifests, version pointers) is sealed so, and a flipped byte is found when it is read.
 */
export function sealJson(value: object): string {
  const text = JSON.stringify(value);
  return `${JSON.stringify({ ...value, sha256: createHash('sha256').update(text).digest('hex') })}\n`;
}

/**
 * Parses a sealed document and checks its hash: `{ value }` when it holds, `{ problem }`
 * saying what is wrong otherwise. A document without a hash (written before braid sealed
 * its files) is `{ value, unsealed: true }`: trusted once, sealed at its next write.
 */
export function openSealedJson(text: string): { value: unknown; unsealed?: boolean; problem?: undefined } | { problem: string; value?: undefined } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problem: `it is not JSON (${(err as Error).message})` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'it is not a JSON object' };
  const { sha256, ...value } = parsed as Record<string, unknown>;
  if (sha256 === undefined) return { value, unsealed: true };
  if (typeof sha256 !== 'string' || createHash('sha256').update(JSON.stringify(value)).digest('hex') !== sha256) {
    return { problem: 'its content does not match its sha256 (the file was changed or damaged)' };
  }
  return { value };
}
