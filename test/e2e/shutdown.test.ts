import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startBraidProcess, type BraidProcess } from '../support/process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
const procs: BraidProcess[] = [];
const children: ChildProcess[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'braid-stop-'));
  dirs.push(dir);
  return dir;
}

/** Whether a process of that pid is alive (and not a zombie). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) Z/.test(stat);
}

/** The pids below `pid` in the process tree. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(name), ...(await descendants(Number(name))));
  }
  return out;
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!(await alive(pid))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('stopping braid', () => {
  it('stops within server.shutdownTimeoutMs on SIGTERM, though an upload is stalled', async () => {
    const dir = await tempDir();
    // The body timeout is a minute: only the shutdown bound can end the stalled upload in time.
    const p = await startBraidProcess(['--data-dir', dir], { BRAID_SERVER_BODY_TIMEOUT_MS: '60000', BRAID_SERVER_SHUTDOWN_TIMEOUT_MS: '1000' });
    procs.push(p);
    const { port } = new URL(p.url);
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"id":"stalled",');
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill('SIGTERM');
    // Far less than the body timeout, and within three shutdown bounds (the process' own last resort).
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 8_000))]);
    expect(code, p.output()).toBe(0);
  });

  it.each([
    ['npm run braid --', ['npm', 'run', '--silent', 'braid', '--']],
    ['npx braid', ['npx', '--no-install', 'braid']],
  ])('stops when %s is sent SIGTERM, instead of running on orphaned', async (_what, command) => {
    const dir = await tempDir();
    const child = spawn(command[0]!, [...command.slice(1), 'start', '--port', '0', '--data-dir', dir], {
      cwd: root,
      env: { ...process.env, BRAID_LOGGING_LEVEL: 'warn', BRAID_KAFKA_BROKERS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/braid is up at/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`braid did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const below = await descendants(child.pid!);
    // The node process running braid's binary (bin/braid.js, or its .bin/braid link); not a shell around it.
    const braid = [];
    for (const pid of below) {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (/node$/.test(args[0] ?? '') && /(bin\/braid\.js|\.bin\/braid)$/.test(args[1] ?? '')) braid.push(pid);
    }
    expect(braid, `the processes below ${command.join(' ')}: ${below.join(', ')}`).toHaveLength(1);
    child.kill('SIGTERM');
    expect(await gone(braid[0]!, 15_000), `braid (pid ${braid[0]}) still runs after its parent got SIGTERM:\n${out}`).toBe(true);
  });
});
