/**
 * Issue 15, the audit trail: hash-chained entries through braid's own log interface, on
 * both logs. A flipped byte, a removed entry and two reordered entries are each found at the
 * first broken link; a reopened trail links on; concurrent records keep one chain.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { AuditLog, GENESIS, pseudonym, verifyAudit, type AuditInput } from '../../shared/audit/audit-log.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog, LogRecord } from '../../shared/log/types.js';
import { topicsPerFile } from '../support/archive-fixtures.js';
import { readAll } from '../support/log-contract.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const opens: Record<string, () => Promise<EventLog>> = {
  embedded: async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'braid-audit-'));
    dirs.push(dir);
    return EmbeddedLog.open({ dir, partitions: 1 });
  },
  kafka: async () => KafkaLog.open({ brokers, topic: newTopic(`braid-audit-${randomUUID().slice(0, 8)}`), partitions: 1, clientId: 'braid-audit-test' }),
};

const entry = (i: number): AuditInput => ({ action: 'ingest', actor: `key-${i % 3}`, outcome: i % 5 === 0 ? 'rejected' : 'ok', details: { requestId: `req-${i}`, events: i, client: '10.0.0.1' } });

/** The trail's records written to a fresh log after `tamper`: what an attacker with write access to the store could leave. */
async function tampered(kind: string, records: LogRecord[], tamper: (values: Buffer[]) => Buffer[]): Promise<EventLog> {
  const copy = await opens[kind]!();
  await copy.append(tamper(records.map((r) => Buffer.from(r.value))).map((value) => ({ key: 'audit', value })));
  return copy;
}

describe.each(Object.keys(opens))('the audit trail on the %s log', (kind) => {
  it('links every entry to the one before, also across a reopen and under concurrent records', async () => {
    const log = await opens[kind]!();
    const audit = await AuditLog.open({ log });
    expect(audit.head()).toEqual({ seq: 0, hash: GENESIS });
    await Promise.all(Array.from({ length: 40 }, (_, i) => audit.record(entry(i))));
    await audit.close();
    const again = await AuditLog.open({ log });
    expect(again.head().seq).toBe(40);
    for (let i = 40; i < 50; i++) await again.record(entry(i));
    const v = await verifyAudit(log);
    expect(v).toMatchObject({ ok: true, entries: 50, head: again.head().hash });
    const stored = (await readAll(log)).map((r) => JSON.parse(r.value.toString()) as { seq: number; details: { requestId: string } });
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Concurrent records keep their call order.
    expect(stored.slice(0, 40).map((e) => e.details.requestId)).toEqual(Array.from({ length: 40 }, (_, i) => `req-${i}`));
    await log.close();
  });

  it('keeps one chain per writer when two processes share the trail, and finds a break in either', async () => {
    const log = await opens[kind]!();
    const a = await AuditLog.open({ log, writer: 'a' });
    const b = await AuditLog.open({ log, writer: 'b' });
    for (let i = 0; i < 10; i++) await (i % 3 === 0 ? b : a).record(entry(i));
    expect(await verifyAudit(log)).toMatchObject({ ok: true, entries: 10 });
    // A reopened writer links on after its own last entry, whatever came after it.
    const a2 = await AuditLog.open({ log, writer: 'a' });
    expect(a2.head()).toEqual(a.head());
    await a2.record(entry(10));
    expect(await verifyAudit(log)).toMatchObject({ ok: true, entries: 11 });
    const records = await readAll(log);
    const removedB = await tampered(kind, records, (values) => values.filter((_, i) => i !== 3)); // b's second entry
    expect((await verifyAudit(removedB)).broken).toMatchObject({ offset: 5, seq: 2 });
    for (const l of [removedB, log]) await l.close();
  });

  it('finds a flipped byte, a removed entry and two reordered entries at the first broken link', async () => {
    const log = await opens[kind]!();
    const audit = await AuditLog.open({ log });
    for (let i = 0; i < 12; i++) await audit.record(entry(i));
    const records = await readAll(log);

    const flipped = await tampered(kind, records, (values) => {
      const v = values[5]!;
      const at = v.indexOf('"events":5') + '"events":'.length;
      v[at] = '7'.charCodeAt(0); // 5 → 7: still valid JSON, a different entry
      return values;
    });
    const f = await verifyAudit(flipped);
    expect(f.ok).toBe(false);
    expect(f.broken).toMatchObject({ offset: 6, seq: 6 }); // entry 5 changed: the link from 6 to it breaks
    expect(f.broken!.problem).toMatch(/prev/);

    const removed = await tampered(kind, records, (values) => values.filter((_, i) => i !== 4));
    expect((await verifyAudit(removed)).broken).toMatchObject({ offset: 4, seq: 5 });

    const reordered = await tampered(kind, records, (values) => {
      [values[7], values[8]] = [values[8]!, values[7]!];
      return values;
    });
    expect((await verifyAudit(reordered)).broken).toMatchObject({ offset: 7, seq: 8 });

    for (const l of [flipped, removed, reordered, log]) await l.close();
  });
});

describe('subject pseudonyms', () => {
  it('are keyed: the same subject and secret give the same pseudonym, another secret another, and the subject is not in it', () => {
    const a = pseudonym('secret-one-0123456789', 'user-42');
    expect(a).toBe(pseudonym('secret-one-0123456789', 'user-42'));
    expect(a).not.toBe(pseudonym('secret-two-0123456789', 'user-42'));
    expect(a).not.toBe(pseudonym('secret-one-0123456789', 'user-43'));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});
