import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { resolveConfig, type ResolvedConfig } from '../../shared/config/index.js';
import { createLogger } from '../../shared/logger.js';
import { LogHandle } from '../../shared/log/handle.js';
import { openLogFromConfig } from '../../shared/log/open.js';
import type { EventLog } from '../../shared/log/types.js';
import { buildApp } from '../../serving/app.js';
import { BraidNode } from '../../lambda/index.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: ResolvedConfig;
  readonly handle: LogHandle;
  readonly registry: Registry;
  readonly node: BraidNode | undefined;
  log(): EventLog;
  close(): Promise<void>;
}

/**
 * The real app over a real log (embedded in a fresh temp dir unless Kafka brokers are
 * given), built with `buildApp` and exercised through `app.inject`.
 */
export async function makeTestApp(
  settings: Record<string, unknown> = {},
  options: { gate?: Promise<void>; roles?: boolean; /** collect the app's log lines (info and above) here */ logLines?: string[] } = {},
): Promise<TestApp> {
  const dir = await mkdtemp(path.join(tmpdir(), 'braid-test-'));
  const config = resolveConfig({ dataDir: dir, logging: { level: 'silent' }, batch: { schedule: 'off', fullSchedule: 'off' }, verify: { schedule: 'off' }, ...settings });
  const lines = options.logLines;
  const logger = lines ? createLogger('info', { write: (line: string) => void lines.push(line) }, { format: 'json' }) : createLogger('silent');
  const registry = new Registry();
  const handle = new LogHandle({
    kind: config.log.kind,
    open: async () => {
      await options.gate;
      return openLogFromConfig(config, logger);
    },
    logger,
    retryMs: 100,
  });
  // With roles, the whole node (archive, batch without a schedule, speed) runs on the log.
  const node = options.roles ? new BraidNode(config, logger) : undefined;
  const app = await buildApp({ config, log: handle, logger, registry, ...(node ? { node } : {}) });
  await app.ready();
  if (node) await node.start(handle);
  return {
    app,
    config,
    handle,
    registry,
    log() {
      const l = handle.current();
      if (!l) throw new Error('log not open');
      return l;
    },
    node,
    async close() {
      await app.close();
      await node?.close();
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function total(position: Record<number, number>): number {
  return Object.values(position).reduce((a, b) => a + b, 0);
}
