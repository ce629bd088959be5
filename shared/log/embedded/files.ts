import { open, type FileHandle } from 'node:fs/promises';

export { syncPath as syncDir, writeFileDurably, unlinkIfPresent, ignoreMissing, isErrno } from '../../files.js';

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
