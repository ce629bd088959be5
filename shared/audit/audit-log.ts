import { createHash, createHmac } from 'node:crypto';
import type { EventLog, LogRecord } from '../log/types.js';

/**
 * The audit trail (contract §11): every write and admin action, appended through braid's own
 * log interface — a second embedded log, or a second Kafka topic, of one partition so that
 * the entries have one order — and so as durable as the events. Append-only and
 * tamper-evident: each entry carries `prev`, the SHA-256 of the stored bytes of the entry
 * before it (64 zeros for the first), and its `seq` (its place in the trail). Changing,
 * removing, inserting or reordering stored entries breaks a link that `verifyAudit` finds;
 * a consistent rewrite of the whole rest of the trail is what a hash chain cannot tell, which
 * is why an operator keeps the head (`GET /v1/audit/verify` answers it) somewhere else.
 *
 * Actors are API key names (never a key); subjects appear only as keyed pseudonyms
 * (`pseudonym`: HMAC-SHA-256 with `audit.secret`), so the trail can show "this subject was
 * erased on this date" to whoever presents the subject, without holding it.
 */
export interface AuditEntry {
  readonly seq: number;
  /** ISO 8601 */
  readonly at: string;
  readonly action: AuditAction;
  /** the API key's name; `schedule`, `startup` or `anonymous` when no key was involved */
  readonly actor: string;
  /** `ok`, `rejected` (4xx) or `failed` (5xx, a failed job) */
  readonly outcome: 'ok' | 'rejected' | 'failed';
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
  readonly prev: string;
}

export const AuditActions = ['start', 'ingest', 'auth_rejected', 'batch_run', 'replay', 'verification', 'export', 'erasure', 'admin'] as const;
export type AuditAction = (typeof AuditActions)[number];

export type AuditInput = Omit<AuditEntry, 'seq' | 'at' | 'prev'> & { readonly at?: string };

export const GENESIS = '0'.repeat(64);
const RECORD_KEY = 'audit';

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A subject (an event's `key ?? id`) as the audit names it: HMAC-SHA-256 with the audit secret, hex. */
export function pseudonym(secret: string, subject: string): string {
  return createHmac('sha256', secret).update(subject, 'utf8').digest('hex');
}

/** The stored form of an entry: its JSON, fields in one order (what `prev` hashes). */
export function encodeEntry(entry: AuditEntry): Buffer {
  const { seq, at, action, actor, outcome, details, prev } = entry;
  return Buffer.from(JSON.stringify({ seq, at, action, actor, outcome, details, prev }), 'utf8');
}

export interface AuditLogOptions {
  readonly log: EventLog;
  readonly now?: () => number;
}

/**
 * Appends entries in order, each linked to the one before. Entries recorded while an append
 * is in flight go together in the next one (one durable write for many), in the order they
 * were recorded; `record` resolves once its entry is durable.
 */
export class AuditLog {
  readonly #log: EventLog;
  readonly #now: () => number;
  #seq: number;
  #prev: string;
  #pending: Array<{ input: AuditInput; resolve: () => void; reject: (err: unknown) => void }> = [];
  #flushing: Promise<void> | undefined;

  private constructor(log: EventLog, seq: number, prev: string, now: () => number) {
    this.#log = log;
    this.#seq = seq;
    this.#prev = prev;
    this.#now = now;
  }

  /** Opens the trail: its head is the last stored entry (read back, so a restart links on). */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const { log } = options;
    if (log.partitions !== 1) throw new Error(`the audit log needs one partition (it has ${log.partitions}): its entries have one order`);
    const end = (await log.endPosition())[0] ?? 0;
    let seq = 0;
    let prev = GENESIS;
    if (end > 0) {
      for await (const batch of log.read({ from: { 0: end - 1 }, until: { 0: end } })) {
        for (const r of batch) {
          const last = JSON.parse(r.value.toString('utf8')) as AuditEntry;
          seq = last.seq + 1;
          prev = sha256Hex(r.value);
        }
      }
    }
    return new AuditLog(log, seq, prev, options.now ?? Date.now);
  }

  /** Appends one entry; resolves once it is durable. Entries link in call order. */
  record(input: AuditInput): Promise<void> {
    const at = input.at ?? new Date(this.#now()).toISOString();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ input: { ...input, at }, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** The head: the next seq and the hash the next entry links to. */
  head(): { seq: number; hash: string } {
    return { seq: this.#seq, hash: this.#prev };
  }

  /**
   * Links and appends what is pending, one append per group. The chain advances only once an
   * append is durable: a failed one records nothing (its callers get the error), and the
   * next entries link to the last stored one, so a failure leaves no gap in the chain.
   */
  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const group = this.#pending.splice(0);
      let seq = this.#seq;
      let prev = this.#prev;
      const values = group.map(({ input }) => {
        const bytes = encodeEntry({ seq: seq++, at: input.at!, action: input.action, actor: input.actor, outcome: input.outcome, details: input.details, prev });
        prev = sha256Hex(bytes);
        return bytes;
      });
      try {
        await this.#log.append(values.map((value) => ({ key: RECORD_KEY, value })));
      } catch (err) {
        for (const p of group) p.reject(err);
        continue;
      }
      this.#seq = seq;
      this.#prev = prev;
      for (const p of group) p.resolve();
    }
    this.#flushing = undefined;
  }

  /** Waits for entries in flight. */
  async close(): Promise<void> {
    await this.#flushing;
  }
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** the hash the next entry would link to */
  readonly head: string;
  /** the first link that does not hold */
  readonly broken?: { readonly offset: number; readonly seq?: number; readonly problem: string };
}

/** Walks stored entries in order and reports the first broken link. */
export async function verifyEntries(records: AsyncIterable<readonly Pick<LogRecord, 'offset' | 'value'>[]>): Promise<AuditVerification> {
  let prev = GENESIS;
  let expected = 0;
  let entries = 0;
  for await (const batch of records) {
    for (const r of batch) {
      let entry: Partial<AuditEntry>;
      try {
        entry = JSON.parse(r.value.toString('utf8')) as Partial<AuditEntry>;
      } catch {
        return { ok: false, entries, head: prev, broken: { offset: r.offset, problem: 'the entry is not JSON: it was changed' } };
      }
      const at = { offset: r.offset, ...(typeof entry.seq === 'number' ? { seq: entry.seq } : {}) };
      if (entry.prev !== prev) {
        return { ok: false, entries, head: prev, broken: { ...at, problem: `its prev is ${String(entry.prev).slice(0, 16)}…, not the SHA-256 of the entry before it (${prev.slice(0, 16)}…): an entry before it was changed, removed or moved` } };
      }
      if (entry.seq !== expected) {
        return { ok: false, entries, head: prev, broken: { ...at, problem: `its seq is ${String(entry.seq)} where ${expected} was expected: an entry was removed, added or moved` } };
      }
      if (!Buffer.from(r.value).equals(encodeEntry(entry as AuditEntry))) {
        return { ok: false, entries, head: prev, broken: { ...at, problem: 'the entry is not in its stored form (fields added or changed)' } };
      }
      prev = sha256Hex(r.value);
      expected++;
      entries++;
    }
  }
  return { ok: true, entries, head: prev };
}

/** Verifies the whole trail in `log`, from its start to its end now. */
export async function verifyAudit(log: EventLog): Promise<AuditVerification> {
  return verifyEntries(log.read({ until: await log.endPosition() }));
}
