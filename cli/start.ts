import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { loadConfig, type ResolvedConfig } from '../shared/config/index.js';
import { createLogger } from '../shared/logger.js';
import { logHandleFromConfig } from '../shared/log/open.js';
import type { LogHandle } from '../shared/log/handle.js';
import { buildApp } from '../serving/app.js';
import { runDemo } from './demo.js';

export interface StartOptions {
  readonly config?: string;
  readonly port?: number;
  readonly host?: string;
  readonly dataDir?: string;
  /** stream gentle demo traffic into this process (npm start) */
  readonly demo?: boolean;
  readonly demoRate?: number;
}

export interface Running {
  readonly config: ResolvedConfig;
  readonly app: FastifyInstance;
  readonly log: LogHandle;
  readonly url: string;
  close(): Promise<void>;
}

/** `braid start`: every role of this issue in one process (ingest + serving over the log). */
export async function startBraid(options: StartOptions): Promise<Running> {
  const config = await loadConfig({
    ...(options.config ? { file: options.config } : {}),
    overrides: { 'server.port': options.port, 'server.host': options.host, dataDir: options.dataDir },
  });
  const logger = createLogger(config.logging.level);
  await mkdir(config.dataDir, { recursive: true });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'braid_' });

  const log = logHandleFromConfig(config, logger);
  const app = await buildApp({ config, log, logger, registry });
  await app.listen({ port: config.server.port, host: config.server.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host}:${port}`;

  let opened: Error | undefined;
  await log.ready.then(
    (l) => logger.info({ log: l.kind, partitions: l.partitions, url }, 'braid is ready'),
    (err: Error) => {
      opened = err;
    },
  );
  if (opened) {
    await app.close();
    throw opened;
  }

  const demo = new AbortController();
  const demoDone = options.demo
    ? runDemo({ url, rate: options.demoRate ?? 20, batchSize: 10, signal: demo.signal, quiet: true, ...(config.auth.apiKeys[0] ? { apiKey: config.auth.apiKeys[0] } : {}) }).catch(
        (err: Error) => logger.warn({ err: err.message }, 'demo stream stopped'),
      )
    : Promise.resolve();
  if (options.demo) logger.info({ rate: options.demoRate ?? 20 }, 'streaming demo events (stop with Ctrl-C)');

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    log,
    url,
    close() {
      closing ??= (async () => {
        demo.abort();
        await demoDone;
        await app.close();
        await log.close();
      })();
      return closing;
    },
  };
}
