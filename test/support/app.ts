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

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: ResolvedConfig;
  readonly handle: LogHandle;
  readonly registry: Registry;
  log(): EventLog;
  close(): Promise<void>;
}

/**
 * The real app over a real log (embedded in a fresh temp dir unless Kafka brokers are
 * given), built with `buildApp` and exercised through `app.inject`.
 */
export async function makeTestApp(settings: Record<string, unknown> = {}, options: { gate?: Promise<void> } = {}): Promise<TestApp> {
  const dir = await mkdtemp(path.join(tmpdir(), 'braid-test-'));
  const config = resolveConfig({ dataDir: dir, logging: { level: 'silent' }, ...settings });
  const logger = createLogger('silent');
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
  const app = await buildApp({ config, log: handle, logger, registry });
  await app.ready();
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
    async close() {
      await app.close();
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function total(position: Record<number, number>): number {
  return Object.values(position).reduce((a, b) => a + b, 0);
}
