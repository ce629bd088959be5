import { open, rename, unlink, type FileHandle } from 'node:fs/promises';

/** Makes a directory's entries (created, renamed, removed files) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` atomically with `data`, durable once this resolves. */
export async function writeFileDurably(dir: string, path: string, data: string | Buffer, sync = true): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  if (sync) await syncDir(dir);
}

export async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Reads `length` bytes at `position`, fewer only if the file ends first. */
export async function readFully(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

export async function readAt(path: string, length: number, position: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    return await readFully(handle, length, position);
  } finally {
    await handle.close();
  }
}

export async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch(ignoreMissing);
}

export function ignoreMissing(err: unknown): undefined {
  if (isErrno(err, 'ENOENT')) return undefined;
  throw err;
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
