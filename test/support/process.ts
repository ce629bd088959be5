import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));

export interface BraidProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** resolves with the exit code or signal */
  exited: Promise<number | string>;
}

/** Starts `braid start` as a real process on a free port and waits until it says it is up. */
export async function startBraidProcess(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<BraidProcess> {
  const child = spawn(process.execPath, [...nodeArgs, bin, 'start', '--port', '0', ...args], {
    // The embedded log unless a test asks for Kafka: a BRAID_KAFKA_BROKERS set for the test
    // run must not switch the child over silently.
    env: { ...process.env, BRAID_LOGGING_LEVEL: 'warn', BRAID_KAFKA_BROKERS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`braid did not start within 60 s:\n${out}`)), 60_000);
    const check = () => {
      const m = /braid is up at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`braid exited (${code}) before it was up:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}
