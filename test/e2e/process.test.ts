import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { decodeEvent } from '../../shared/events/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { startBraidProcess, type BraidProcess } from '../support/process.js';
import { verifyAudit } from '../../shared/audit/audit-log.js';
import { readAll as readAllRecords } from '../support/log-contract.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const config = fileURLToPath(new URL('../../braid.yaml', import.meta.url));

const dirs: string[] = [];
const procs: BraidProcess[] = [];
async function tempDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'braid-e2e-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function status(url: string) {
  const res = await request(`${url}/v1/status`);
  return (await res.body.json()) as { ready: boolean; log: { endTotal: number } };
}

async function readAll(dir: string) {
  const log = await EmbeddedLog.open({ dir: path.join(dir, 'log'), partitions: 1 });
  try {
    const records = [];
    for await (const batch of log.read({ until: await log.endPosition() })) records.push(...batch);
    return records.map((r) => ({ ...decodeEvent(r.value), offset: r.offset }));
  } finally {
    await log.close();
  }
}

describe('the braid process', () => {
  it('starts with the demo config, streams demo events, and stops cleanly on SIGTERM', async () => {
    const dir = await tempDir();
    const p = await startBraidProcess(['--config', config, '--data-dir', dir, '--demo', '--demo-rate', '200']);
    procs.push(p);
    expect((await request(`${p.url}/readyz`)).statusCode).toBe(200);
    // The demo stream goes through the real API: wait until the log has grown.
    let end = 0;
    for (let i = 0; i < 100 && end < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      end = (await status(p.url)).log.endTotal;
    }
    expect(end).toBeGreaterThanOrEqual(50);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const stored = await readAll(dir);
    expect(stored.length).toBeGreaterThanOrEqual(end);
  });

  it('exits with a message naming the problem when the config is invalid', async () => {
    const dir = await tempDir();
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'server:\n  port: eighty\ningest:\n  maxFutureMs: -1\n');
    const err = await run(process.execPath, [bin, 'start', '--config', bad]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/server\.port: expected integer, got "eighty"/);
    expect(err?.stderr).toMatch(/ingest\.maxFutureMs/);
  });

  it('refuses a second process on the same data directory', async () => {
    const dir = await tempDir();
    const first = await startBraidProcess(['--data-dir', dir]);
    procs.push(first);
    // The embedded log, as the first one uses: a BRAID_KAFKA_BROKERS of the test run must not switch it.
    const err = await run(process.execPath, [bin, 'start', '--port', '0', '--data-dir', dir], { env: { ...process.env, BRAID_KAFKA_BROKERS: '' }, timeout: 60_000 }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/in use by process \d+/);
    expect(err?.stderr).toMatch(/another data directory/);
  });

  it('keeps every acknowledged event exactly once when killed with SIGKILL during ingest', async () => {
    const dir = await tempDir();
    const acknowledged = new Set<string>();
    const generator = new DemoGenerator({ seed: 3, duplicateRate: 0 });
    for (let round = 0; round < 3; round++) {
      const p = await startBraidProcess(['--data-dir', dir]);
      procs.push(p);
      const stop = Date.now() + 300 + round * 200;
      const clients = Array.from({ length: 4 }, async () => {
        while (p.child.exitCode === null) {
          const events = generator.batch(50, Date.now());
          try {
            const res = await request(`${p.url}/v1/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(events),
            });
            await res.body.dump();
            if (res.statusCode === 202) for (const e of events) acknowledged.add(e.id);
          } catch {
            return; // the process is gone
          }
          if (Date.now() > stop) p.child.kill('SIGKILL');
        }
      });
      await Promise.all(clients);
      expect(await p.exited).toBe('SIGKILL');
    }
    const stored = await readAll(dir);
    const ids = stored.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // nothing doubled (the generator makes no retries here)
    for (const id of acknowledged) expect(ids).toContain(id);
    expect(stored.map((e) => e.offset)).toEqual(stored.map((_, i) => i));
    expect(acknowledged.size).toBeGreaterThan(0);
    // The audit trail went through the same kills: whole (no half-written entry), one chain
    // across the restarts, each start in it, and an entry for every acknowledged request.
    const auditLog = await EmbeddedLog.open({ dir: path.join(dir, 'audit-log'), partitions: 1 });
    try {
      expect(await verifyAudit(auditLog)).toMatchObject({ ok: true });
      const entries = (await readAllRecords(auditLog)).map((r) => JSON.parse(r.value.toString()) as { action: string; outcome: string; details: { events?: number } });
      expect(entries.filter((e) => e.action === 'start')).toHaveLength(3);
      const auditedEvents = entries.filter((e) => e.action === 'ingest' && e.outcome === 'ok').reduce((n, e) => n + (e.details.events ?? 0), 0);
      expect(auditedEvents).toBeGreaterThanOrEqual(acknowledged.size);
    } finally {
      await auditLog.close();
    }
  });
});

describe('braid send and braid demo', () => {
  it('writes a reproducible demo file and sends it in batches', async () => {
    const dir = await tempDir();
    const a = path.join(dir, 'a.ndjson');
    const b = path.join(dir, 'b.ndjson');
    await run(process.execPath, [bin, 'demo', '--out', a, '--count', '500', '--seed', '9', '--rate', '0']);
    await run(process.execPath, [bin, 'demo', '--out', b, '--count', '500', '--seed', '9', '--rate', '0']);
    const { readFile } = await import('node:fs/promises');
    const [ta, tb] = [await readFile(a, 'utf8'), await readFile(b, 'utf8')];
    expect(ta.trim().split('\n')).toHaveLength(500);
    // Same seed, same ids, types, keys and data (times follow the clock).
    const strip = (t: string) => t.trim().split('\n').map((l) => { const e = JSON.parse(l); delete e.time; return e; });
    expect(strip(ta)).toEqual(strip(tb));

    // The demo config schedules runs; here the only run is the one braid batch run starts.
    const p = await startBraidProcess(['--config', config, '--data-dir', path.join(dir, 'data')], { BRAID_BATCH_SCHEDULE: 'off', BRAID_VERIFY_SCHEDULE: 'off' });
    procs.push(p);
    const sent = await run(process.execPath, [bin, 'send', a, '--url', p.url, '--batch-size', '120']);
    expect(sent.stderr).toMatch(/sent 500 events/);
    expect((await status(p.url)).log.endTotal).toBe(500);

    // braid batch run: a run on the server, followed to its end.
    const batch = await run(process.execPath, [bin, 'batch', 'run', '--url', p.url]);
    expect(batch.stderr).toMatch(/published version 1 at snapshot \{"0":500\}/);
    const answer = (await (await request(`${p.url}/v1/views/page_views_by_path?source=batch&group_by=&granularity=day`)).body.json()) as {
      rows: Array<{ views: number }>;
    };
    const pageViews = ta.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'page_view');
    expect(answer.rows.reduce((n, r) => n + r.views, 0)).toBe(new Set(pageViews.map((e) => e.id)).size);

    // braid subject export, then braid subject erase --wait: the subject's events are gone from the answers.
    const sentEvents = ta.trim().split('\n').map((l) => JSON.parse(l) as { id: string; type: string; key?: string });
    const subject = sentEvents.find((e) => e.key !== undefined && e.type === 'page_view')!.key!;
    const ofSubject = sentEvents.filter((e) => (e.key ?? e.id) === subject);
    const exported = await run(process.execPath, [bin, 'subject', 'export', subject, '--url', p.url]);
    expect(exported.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(ofSubject.map((e) => e.id));
    const erased = await run(process.execPath, [bin, 'subject', 'erase', subject, '--wait', '--url', p.url]);
    const job = JSON.parse(erased.stdout) as { state: string; progress: { stepsDone: number; stores: { archive: { records: number } } } };
    expect(job).toMatchObject({ state: 'completed', progress: { stepsDone: 5, stores: { archive: { records: ofSubject.length } } } });
    expect((await run(process.execPath, [bin, 'subject', 'export', subject, '--url', p.url])).stdout).toBe('');
    const after = (await (await request(`${p.url}/v1/views/page_views_by_path?source=lambda&group_by=&granularity=day`)).body.json()) as { rows: Array<{ views: number }> };
    const kept = pageViews.filter((e) => (e.key ?? e.id) !== subject);
    expect(after.rows.reduce((n, r) => n + r.views, 0)).toBe(new Set(kept.map((e) => e.id)).size);
  });
});
