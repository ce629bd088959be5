import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/** fsync: the file's data and metadata are on disk once this resolves. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a directory's entries (created, renamed, removed files) durable. */
export const syncDir = syncFile;

/**
 * Puts a fully written temp file in place: fsync it, rename it over `target`, fsync the
 * directory. A crash leaves either the old state or the new one, never a torn file.
 */
export async function installFile(temp: string, target: string): Promise<void> {
  await syncFile(temp);
  await rename(temp, target);
  await syncDir(path.dirname(target));
}

export async function removeIfPresent(file: string): Promise<void> {
  await unlink(file).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
