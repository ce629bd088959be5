import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, realpath, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BraidError } from '../../errors.js';
import { ignoreMissing, isErrno, unlinkIfPresent } from './files.js';

/** Directories whose lock this process holds: a second open in the same process is refused too. */
const held = new Set<string>();

/** A takeover guard older than this was left by a process that died inside the takeover. */
const STALE_GUARD_MS = 10_000; // ten seconds

interface Owner {
  readonly pid: number;
  /** Linux: the process's start time in clock ticks since boot, which tells a reused pid apart. */
  readonly startTime?: string;
}

/**
 * One process owns a log directory: the file `lock` names its pid. The file appears whole
 * (written aside, then hard-linked into place, which fails if it exists). A lock whose
 * process is gone (SIGKILL, a crash, a reused pid) is stale and taken over; the takeover
 * runs under a `lock.takeover` directory so two processes cannot both take the same stale
 * lock.
 */
export class LogLock {
  private constructor(
    readonly path: string,
    private readonly key: string,
  ) {}

  static async acquire(dir: string): Promise<LogLock> {
    const key = await realpath(dir);
    const path = join(dir, 'lock');
    if (held.has(key)) throw lockedError(dir, { pid: process.pid }, 'this process');
    held.add(key);
    try {
      const me: Owner = { pid: process.pid, startTime: (await procStat(process.pid))?.startTime };
      for (let attempt = 0; attempt < 5; attempt++) {
        if (await createLockFile(path, JSON.stringify(me))) {
          await removeDeadTempFiles(dir);
          return new LogLock(path, key);
        }
        const text = await readFile(path, 'utf8').catch(ignoreMissing);
        if (text === undefined) continue; // released meanwhile
        const owner = parseOwner(text);
        if (owner && (await isAlive(owner))) throw lockedError(dir, owner, `process ${owner.pid}`);
        await takeOverStale(path, text, dir);
      }
      throw new BraidError('log_locked', `embedded log at ${dir}: other processes keep taking the lock ${path}; retry`);
    } catch (err) {
      held.delete(key);
      throw err;
    }
  }

  async release(): Promise<void> {
    await unlinkIfPresent(this.path);
    held.delete(this.key);
  }
}

/** `lock.<pid>.<random>.tmp` files of processes that died before they could remove them. */
async function removeDeadTempFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = /^lock\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) await unlinkIfPresent(join(dir, name));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

async function createLockFile(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    // Inside the try: a write that fails (a full disk) may still have created the file.
    await writeFile(tmp, content);
    await link(tmp, path);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    await unlinkIfPresent(tmp);
  }
}

async function takeOverStale(path: string, staleText: string, dir: string): Promise<void> {
  const guard = `${path}.takeover`;
  try {
    await mkdir(guard);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    const since = await stat(guard).then((s) => Date.now() - s.mtimeMs, ignoreMissing);
    if (since !== undefined && since > STALE_GUARD_MS) await rmdir(guard).catch(ignoreMissing);
    else if (since !== undefined) {
      throw new BraidError('log_locked', `embedded log at ${dir}: another process is taking over its stale lock; retry`);
    }
    return; // the caller tries again
  }
  try {
    // Only the stale lock we looked at may go: another process may have replaced it since.
    if ((await readFile(path, 'utf8').catch(ignoreMissing)) === staleText) await unlink(path);
  } finally {
    await rmdir(guard);
  }
}

function parseOwner(text: string): Owner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<Owner>;
    return Number.isInteger(owner.pid) && owner.pid! > 0 ? (owner as Owner) : undefined;
  } catch {
    return undefined; // unreadable: a lock file cut short by a crash
  }
}

async function isAlive(owner: Owner): Promise<boolean> {
  // This process does not hold the lock (`held` said so): the file is from an earlier
  // process that had the same pid, as after a container restart.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (!isErrno(err, 'EPERM')) return false;
  }
  if (process.platform !== 'linux') return true;
  const stat = await procStat(owner.pid);
  if (stat === undefined || stat.state === 'Z') return false; // gone, or dead and not yet reaped
  return owner.startTime === undefined || owner.startTime === stat.startTime;
}

/** Fields 3 (state) and 22 (start time) of /proc/<pid>/stat; undefined off Linux or when gone. */
async function procStat(pid: number): Promise<{ state: string; startTime: string } | undefined> {
  if (process.platform !== 'linux') return undefined;
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, startTime] = [fields[0], fields[19]];
  return state === undefined || startTime === undefined ? undefined : { state, startTime };
}

function lockedError(dir: string, owner: Owner, who: string): BraidError {
  return new BraidError(
    'log_locked',
    `embedded log at ${dir} is in use by ${who} (pid ${owner.pid}); stop that process, or point this one at another data directory`,
    { details: { pid: owner.pid, dir } },
  );
}
