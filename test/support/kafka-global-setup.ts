import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../infra/kafka/kafka.sh', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

/**
 * Uses BRAID_KAFKA_BROKERS when given; otherwise starts the project's own single-node
 * broker (infra/kafka/kafka.sh) and stops it afterwards, but only if this run started it.
 */
export default async function setup(project: TestProject) {
  const given = process.env.BRAID_KAFKA_BROKERS;
  if (given) {
    project.provide('kafkaBrokers', given);
    return;
  }
  let startedHere = false;
  try {
    await run('bash', [script, 'status']);
  } catch {
    await run('bash', [script, 'start'], { timeout: 300_000 });
    startedHere = true;
  }
  project.provide('kafkaBrokers', `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`);
  return async () => {
    if (startedHere) await run('bash', [script, 'stop'], { timeout: 60_000 });
  };
}
