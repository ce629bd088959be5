import { describe, expect, it } from 'vitest';
import { envName, leafKeys, resolveConfig } from '../../shared/config/index.js';
import { isBraidError } from '../../shared/errors.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isBraidError(err, 'invalid_config')) return err.message;
    throw err;
  }
  throw new Error('expected invalid_config');
}

describe('configuration', () => {
  it('defaults to the embedded log with one partition on port 8080', () => {
    const c = resolveConfig({});
    expect(c.log.kind).toBe('embedded');
    expect(c.log.partitions).toBe(1);
    expect(c.server.port).toBe(8080);
    expect(c.dataDir).toBe('./.braid');
    expect(c.ingest.maxFutureMs).toBe(3_600_000);
  });

  it('selects Kafka with four partitions when brokers are given, also through BRAID_KAFKA_BROKERS', () => {
    const c = resolveConfig({}, { BRAID_KAFKA_BROKERS: 'a:9092, b:9092' });
    expect(c.log.kind).toBe('kafka');
    expect(c.log.kafka.brokers).toEqual(['a:9092', 'b:9092']);
    expect(c.log.partitions).toBe(4);
  });

  it('derives an environment variable for every key', () => {
    expect(envName('server.port')).toBe('BRAID_SERVER_PORT');
    expect(envName('ingest.maxFutureMs')).toBe('BRAID_INGEST_MAX_FUTURE_MS');
    expect(envName('log.kafka.brokers')).toBe('BRAID_LOG_KAFKA_BROKERS');
    // Every leaf really is overridable through its variable.
    const samples: Record<string, [string, unknown]> = {
      'logging.level': ['debug', 'debug'],
      'logging.format': ['json', 'json'],
      'dedupe.window': ['7d', '7d'],
      'dedupe.skew': ['1m', '1m'],
      'log.retention': ['7d', '7d'],
      'log.segmentSize': ['16MB', '16MB'],
      'log.tailCacheSize': ['4MB', '4MB'],
      'archive.writeThreads': ['0', 0],
      'audit.secret': ['a-secret-of-16-or-more', 'a-secret-of-16-or-more'],
      'batch.memoryLimit': ['512MB', '512MB'],
      'speed.maxDedupeMemory': ['64MB', '64MB'],
      'query.cacheMemory': ['64MB', '64MB'],
      'batch.schedule': ['0 * * * *', '0 * * * *'],
      'batch.fullSchedule': ['0 4 * * *', '0 4 * * *'],
      'verify.schedule': ['0 * * * *', '0 * * * *'],
      mode: ['kappa', 'kappa'],
      views: ['[{name: v, events: [a], granularity: day, measures: {n: count}}]', [{ name: 'v', events: ['a'], granularity: 'day', measures: { n: 'count' } }]],
    };
    for (const { path, schema } of leafKeys()) {
      const [text, expected] =
        samples[path] ??
        (schema.type === 'array'
          ? ['abcdefghijklmnopq', ['abcdefghijklmnopq']]
          : schema.type === 'integer'
            ? ((n) => [String(n), n])(Math.max(7, (schema.minimum as number | undefined) ?? 7))
            : schema.type === 'boolean'
              ? ['false', false]
              : Array.isArray(schema.anyOf) && 'const' in schema.anyOf[0]
                ? [String(schema.anyOf[0].const), schema.anyOf[0].const]
                : ['v', 'v']);
      const c = resolveConfig({}, { [envName(path)]: text }) as unknown as Record<string, unknown>;
      const got = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], c);
      expect(got, path).toEqual(expected);
    }
  });

  it('parses views and the dedupe window, reporting view mistakes with the view and field', () => {
    const c = resolveConfig({ dedupe: { window: '90s' }, views: [{ name: 'v', events: ['a'], granularity: 'day', measures: { n: 'count' } }] });
    expect(c.dedupeWindowMs).toBe(90_000);
    expect(c.viewDefinitions.map((v) => v.name)).toEqual(['v']);
    expect(resolveConfig({ dedupe: { window: 'forever' } }).dedupeWindowMs).toBe(Infinity);
    expect(errorOf(() => resolveConfig({ views: [{ name: 'v', events: ['a'], granularity: 'week', measures: { n: 'count' } }] }))).toMatch(
      /view "v": granularity: "week" is unknown/,
    );
    expect(errorOf(() => resolveConfig({ dedupe: { window: '1 day' } }))).toMatch(/dedupe\.window/);
  });

  it('takes file < environment < overrides', () => {
    const c = resolveConfig({ server: { port: 1000 } }, { BRAID_SERVER_PORT: '2000' }, {});
    expect(c.server.port).toBe(2000);
    expect(resolveConfig({ server: { port: 1000 } }, { BRAID_SERVER_PORT: '2000' }, { 'server.port': 3000 }).server.port).toBe(3000);
  });

  it('reports every problem, naming the key, the fix and where it was set', () => {
    const message = errorOf(() =>
      resolveConfig({ server: { port: 'x', hots: 'a' }, bogus: 1, logging: { level: 'loud' } }, { BRAID_LOG_PARTITIONS: 'many' }),
    );
    expect(message).toMatch(/server\.port: expected integer, got "x" \(set in braid\.yaml or BRAID_SERVER_PORT\)/);
    expect(message).toMatch(/server\.hots: unknown setting; known here: host, port/);
    expect(message).toMatch(/bogus: unknown setting/);
    expect(message).toMatch(/log\.partitions: .*"many".*environment variable BRAID_LOG_PARTITIONS/);
    expect(message).toMatch(/logging\.level/);
  });

  it('rejects API keys too short to be secret', () => {
    expect(errorOf(() => resolveConfig({ auth: { apiKeys: ['short'] } }))).toMatch(/auth\.apiKeys\.0/);
  });
});

describe('the configuration reference', () => {
  it('documents every key and its environment variable in the README', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    for (const { path } of leafKeys()) {
      expect(readme, path).toContain(`| \`${path}\` | \`${envName(path)}\` |`);
    }
  });
});
