import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { loadConfig, type ResolvedConfig } from '../shared/config/index.js';
import { createLogger } from '../shared/logger.js';
import { logHandleFromConfig } from '../shared/log/open.js';
import type { LogHandle } from '../shared/log/handle.js';
import { buildApp } from '../serving/app.js';
import { BraidNode } from '../lambda/index.js';
import { runDemo } from './demo.js';
import { startSummary } from './summary.js';

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
  readonly node: BraidNode;
  readonly url: string;
  close(): Promise<void>;
}

/** `braid start`: every role in one process — ingest, archive, batch (scheduled), speed, serving. */
export async function startBraid(options: StartOptions): Promise<Running> {
  const config = await loadConfig({
    ...(options.config ? { file: options.config } : {}),
    overrides: { 'server.port': options.port, 'server.host': options.host, dataDir: options.dataDir },
  });
  const logger = createLogger(config.logging.level, undefined, { format: config.logging.format });
  await mkdir(config.dataDir, { recursive: true });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'braid_' });

  const log = logHandleFromConfig(config, logger);
  const node = new BraidNode(config, logger);
  const app = await buildApp({ config, log, logger, registry, node });
  await app.listen({ port: config.server.port, host: config.server.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host}:${port}`;

  try {
    const l = await log.ready;
    await node.start(log);
    logger.info({ log: l.kind, partitions: l.partitions, views: node.views.length, url }, 'braid is ready');
  } catch (err) {
    await node.close().catch(() => undefined);
    await app.close();
    await log.close();
    throw err;
  }

  const stopSummary = startSummary({ logger, registry, log, node, intervalMs: config.logging.summaryIntervalMs });
  const demo = new AbortController();
  const demoDone = options.demo
    ? runDemo({ url, rate: options.demoRate ?? 20, batchSize: 10, signal: demo.signal, quiet: true, ...((k) => (k ? { apiKey: k.key } : {}))(config.keys.find((k) => k.scopes.includes('ingest'))) }).catch(
        (err: Error) => logger.warn({ err: err.message }, 'demo stream stopped'),
      )
    : Promise.resolve();
  if (options.demo) logger.info({ rate: options.demoRate ?? 20 }, 'streaming demo events (stop with Ctrl-C)');

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    log,
    node,
    url,
    close() {
      closing ??= (async () => {
        stopSummary();
        demo.abort();
        await demoDone;
        // Requests in flight get server.shutdownTimeoutMs; then every open connection is
        // closed (a stalled upload must not hold the process).
        const force = setTimeout(() => app.server.closeAllConnections(), config.server.shutdownTimeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(force);
        }
        await node.close();
        await log.close();
      })();
      return closing;
    },
  };
}
