/**
 * The processes a bench starts: a real `braid start` with a config of its own, and a phase
 * of the bench itself in a fresh process (so its peak RSS is its own).
 */
import kafkajs from 'kafkajs';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startBraidProcess } from '../test/support/process.js';
import { peakRssOfPid } from './report.js';

export interface BenchBraid {
  readonly url: string;
  readonly pid: number;
  /** the process' peak RSS so far, MiB; read it before `stop` */
  peakRssMB(): number;
  stop(): Promise<void>;
}

/**
 * Writes `config` to `<dir>/braid.yaml` and starts `braid start` on it with its data in
 * `<dir>/data`, then waits for /readyz: `braid is up` comes before the log is open and the
 * roles have started.
 */
export async function startBenchBraid(dir: string, config: object, env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<BenchBraid> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'braid.yaml');
  await writeFile(file, JSON.stringify(config));
  const braid = await startBraidProcess(['--config', file, '--data-dir', path.join(dir, 'data')], env, nodeArgs);
  const stop = async () => {
    braid.child.kill('SIGTERM');
    const timer = setTimeout(() => braid.child.kill('SIGKILL'), 30_000);
    const code = await braid.exited;
    clearTimeout(timer);
    if (code !== 0) process.stderr.write(`braid exited with ${code}:\n${braid.output().slice(-2_000)}\n`);
  };
  try {
    await ready(braid.url);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: braid.url, pid: braid.child.pid!, peakRssMB: () => peakRssOfPid(braid.child.pid!), stop };
}

async function ready(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await request(`${url}/readyz`);
    await res.body.dump();
    if (res.statusCode === 200) return;
    if (Date.now() > deadline) throw new Error(`braid at ${url} was not ready within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs `file` (a bench, with arguments that select one of its phases) in a fresh Node
 * process through tsx; its last stdout line is the phase's JSON result.
 */
export function runPhaseProcess<T = Record<string, unknown>>(file: string, args: readonly string[], nodeOptions: readonly string[] = []): T {
  const child = spawnSync(process.execPath, [...nodeOptions, '--import', 'tsx', file, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.status !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (${child.status ?? child.signal})`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as T;
}

/** Deletes a run's topics and the consumer groups its readers (and braid's) left behind, named from `clientIdPrefix`. */
export async function cleanUpKafka(brokers: readonly string[], clientIdPrefix: string, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = new kafkajs.Kafka({ clientId: `${clientIdPrefix}-cleanup`, brokers: [...brokers], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const ours = topics.filter((t) => existing.has(t));
    if (ours.length > 0) await admin.deleteTopics({ topics: ours });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(clientIdPrefix));
    // One at a time: a group that still holds a member is refused, the others go.
    for (const g of groups) await admin.deleteGroups([g]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}
