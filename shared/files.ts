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
