import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { resolveConfig, type ResolvedConfig } from '../../shared/config/index.js';
import { isBraidError } from '../../shared/errors.js';
import { decodeEvent } from '../../shared/events/index.js';
import { LogHandle } from '../../shared/log/handle.js';
import { openLogFromConfig } from '../../shared/log/open.js';
import { createLogger } from '../../shared/logger.js';
import { Rng } from '../../shared/random.js';
import { BraidNode } from '../../lambda/index.js';
import { buildApp } from '../../serving/app.js';
import { shopProfile, TestEvents } from '../support/events.js';
import { expectRowsMatch, referenceRows, survivors, type RefRecord, type RefView } from '../support/reference.js';
import { salesView } from '../support/views.js';

/**
 * Random byte flips and truncations in every kind of file braid writes and later trusts —
 * embedded log segments, archive Parquet files, the archive manifest, batch version files,
 * the pointer to the serving version — each followed by a restart and a batch run. braid
 * must repair and answer exactly (checked against the independent reference), or refuse with
 * a clear error; never answer wrong. The seed is printed; SEED and FAULT_CASES reproduce a run.
 */
const CASES = Number(process.env.FAULT_CASES ?? 56);
const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));

const views = [
  salesView,
  { name: 'traffic', events: ['page_view', 'signup'], granularity: 'hour', dimensions: ['type', 'data.device'], measures: { hits: 'count', users: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.9] } } },
] as const satisfies readonly RefView[];

const settings = (dataDir: string) => ({
  dataDir,
  views,
  dedupe: { window: '24h' },
  log: { partitions: 2 },
  logging: { level: 'silent' },
  batch: { schedule: 'off', fullSchedule: 'off', keepVersions: 3 },
  verify: { schedule: 'off' },
  archive: { flushIntervalMs: 20, compactMinFiles: 3, compactTargetRecords: 900 },
});

/** Errors that refuse clearly: they name what is damaged (a file, a segment, an offset) and what to do. */
const Refusals = ['log_corrupt', 'archive_corrupt', 'invalid_config', 'version_corrupt', 'log_locked'];

interface Braid {
  readonly config: ResolvedConfig;
  readonly node: BraidNode;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** braid's roles and app over a data directory, as `braid start` builds them (no listening). */
async function start(dataDir: string): Promise<Braid> {
  const config = resolveConfig(settings(dataDir));
  const logger = createLogger('silent');
  const handle = new LogHandle({ kind: config.log.kind, open: () => openLogFromConfig(config, logger), logger, retryMs: 50, maxRetryMs: 50 });
  const node = new BraidNode(config, logger);
  const app = await buildApp({ config, log: handle, logger, registry: new Registry(), node });
  const close = async () => {
    await app.close();
    await node.close().catch(() => undefined);
    await handle.close();
  };
  try {
    await node.start(handle);
  } catch (err) {
    await close();
    throw err;
  }
  return { config, node, app, close };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.relative(dir, path.join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

/** What a file is, for the outcome table. */
function kindOf(file: string): string {
  if (file.endsWith('.seg')) return 'log segment';
  if (file.endsWith('.idx')) return 'log index';
  if (file === path.join('log', 'lock')) return 'log lock';
  if (file === path.join('log', 'log.json')) return 'log meta';
  if (file.endsWith('manifest.json')) return 'archive manifest';
  if (file.startsWith('archive')) return 'archive file';
  if (file.endsWith('CURRENT.json')) return 'version pointer';
  if (file.endsWith('version.json')) return 'version manifest';
  if (file.startsWith('batch')) return 'version file';
  return 'other';
}

describe(`a damaged file, then a restart and a batch run (SEED=${SEED}, ${CASES} cases)`, () => {
  let template: string;
  let records: RefRecord[] = [];
  let files: string[] = [];
  const outcomes = new Map<string, number>();

  beforeAll(async () => {
    // The template: two batch versions, an archive that has caught up with the log, and a tail.
    template = await mkdtemp(path.join(tmpdir(), 'braid-faults-'));
    const braid = await start(template);
    const events = new TestEvents(SEED, { profile: shopProfile, prefix: `f${SEED}` });
    const post = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await braid.app.inject({ method: 'POST', url: '/v1/events', payload: events.batch(Date.now()) });
        expect(res.statusCode).toBe(202);
      }
    };
    const run = async () => {
      const info = await braid.node.batch!.wait(braid.node.batch!.start('api').id);
      expect(info.state, info.error).toBe('succeeded');
    };
    await post(40);
    await run();
    await post(25);
    await run();
    await post(15);
    const logEnd = await braid.app.inject({ url: '/v1/status' }).then((r) => r.json().log.end as Record<number, number>);
    await braid.node.archiver!.waitFor(logEnd);
    await braid.node.speed!.waitFor(logEnd);
    await braid.close();
    // The reference's input: the log as it is before any damage.
    const config = resolveConfig(settings(template));
    const opened = await openLogFromConfig(config, createLogger('silent'));
    try {
      for await (const batch of opened.read({ until: logEnd })) {
        for (const r of batch) records.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) as RefRecord['event'] });
      }
    } finally {
      await opened.close();
    }
    files = (await filesUnder(template)).filter((f) => !f.endsWith('.tmp'));
  }, 120_000);

  afterAll(async () => {
    console.log(`fault injection SEED=${SEED}: ${[...outcomes].map(([k, n]) => `${k}: ${n}`).join('; ')}`);
    await rm(template, { recursive: true, force: true });
  });

  it('covers every kind of file', () => {
    const kinds = new Set(files.map(kindOf));
    for (const kind of ['log segment', 'archive file', 'archive manifest', 'version pointer', 'version manifest', 'version file']) expect(kinds, kind).toContain(kind);
    expect(records.length).toBeGreaterThan(500);
  });

  for (let i = 0; i < CASES; i++) {
    it(`case ${i}: repairs and answers exactly, or refuses with a clear error`, async () => {
      const rng = new Rng(SEED + i);
      const dir = await mkdtemp(path.join(tmpdir(), 'braid-fault-'));
      try {
        await cp(template, dir, { recursive: true });
        // Every kind as often as any other, then a file of it.
        const kinds = [...new Set(files.map(kindOf))];
        const kind = kinds[i % kinds.length]!;
        const file = path.join(dir, rng.pick(files.filter((f) => kindOf(f) === kind)));
        const size = (await stat(file)).size;
        const flip = size > 0 && rng.chance(0.6);
        let fault: string;
        if (flip) {
          const bytes = await readFile(file);
          const at = rng.int(0, size - 1);
          bytes[at] = bytes[at]! ^ rng.int(1, 255);
          await writeFile(file, bytes);
          fault = `byte ${at} of ${size} flipped`;
        } else {
          const to = rng.int(0, Math.max(0, size - 1));
          await truncate(file, to);
          fault = `cut to ${to} of ${size} bytes`;
        }
        const what = `${path.relative(dir, file)} (${kind}): ${fault}`;

        let braid: Braid;
        try {
          braid = await start(dir);
        } catch (err) {
          expect(Refusals, `${what}: refused with ${String(err)}`).toContain(isBraidError(err) ? err.code : 'not a braid error');
          expect((err as Error).message.length, what).toBeGreaterThan(40);
          outcomes.set(`${kind}: refused at start`, (outcomes.get(`${kind}: refused at start`) ?? 0) + 1);
          return;
        }
        try {
          const batch = braid.node.batch!;
          for (const r of batch.runs()) await batch.wait(r.id); // a start-up run (a discarded version)
          const run = await batch.wait(batch.start('api').id);
          if (run.state === 'failed') expect(Refusals, `${what}: the run failed with ${run.error}`).toContain(run.errorCode);
          // Whatever the state, what is answered is exact: Lambda at the log's end, batch at its S.
          const position = Object.fromEntries(Array.from({ length: 2 }, (_, p) => [p, records.filter((r) => r.partition === p).length]));
          for (const view of views) {
            for (const source of ['lambda', 'batch'] as const) {
              const res = await braid.app.inject({ url: `/v1/views/${view.name}?source=${source}` });
              if (res.statusCode === 503) continue; // nothing to answer from (yet): not a wrong answer
              expect(res.statusCode, `${what}: ${source} ${res.body}`).toBe(200);
              const body = res.json() as { position: Record<string, number>; rows: Array<Record<string, unknown>> };
              if (source === 'lambda') expect(body.position, what).toEqual(Object.fromEntries(Object.entries(position).map(([p, n]) => [p, n])));
              const at = Object.fromEntries(Object.entries(body.position).map(([p, n]) => [Number(p), n]));
              expectRowsMatch(view, body.rows, referenceRows(view, survivors(records, at, 86_400_000)), view.dimensions, `${what}: ${source}`);
            }
          }
          const outcome = run.state === 'failed' ? 'run refused, answers exact' : 'repaired or unharmed, answers exact';
          outcomes.set(`${kind}: ${outcome}`, (outcomes.get(`${kind}: ${outcome}`) ?? 0) + 1);
        } finally {
          await braid.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
