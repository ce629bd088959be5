import { createHash, createHmac } from 'node:crypto';
import type { EventLog, LogRecord } from '../log/types.js';

/**
 * The audit trail (contract §11): every write and admin action, appended through braid's own
 * log interface — a second embedded log, or a second Kafka topic, of one partition so that
 * the entries have one order — and so as durable as the events. Append-only and
 * tamper-evident: each entry names its `writer` (the process; several may share a trail on
 * Kafka) and carries `prev`, the SHA-256 of the stored bytes of that writer's entry before it
 * (64 zeros for its first), and its `seq` (its place in its writer's chain). Changing,
 * removing, inserting or reordering stored entries breaks a link that `verifyAudit` finds;
 * a consistent rewrite of the whole rest of the trail is what a hash chain cannot tell, which
 * is why an operator keeps the head (`GET /v1/audit/verify` answers it) somewhere else.
 *
 * Actors are API key names (never a key); subjects appear only as keyed pseudonyms
 * (`pseudonym`: HMAC-SHA-256 with `audit.secret`), so the trail can show "this subject was
 * erased on this date" to whoever presents the subject, without holding it.
 */
export interface AuditEntry {
  /** the process that wrote it: each writer's entries form their own chain (several processes may share one trail) */
  readonly writer: string;
  /** its place in its writer's chain */
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

export type AuditInput = Omit<AuditEntry, 'writer' | 'seq' | 'at' | 'prev'> & { readonly at?: string };

export const GENESIS = '0'.repeat(64);
const RECORD_KEY = 'audit';

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A subject (an event's `key ?? id`) as the audit names it: HMAC-SHA-256 with the audit secret, hex. */
export function pseudonym(secret: string, subject: string): string {
  return createHmac('sha256', secret).update(subject, 'utf8').digest('hex');
}

/** The stored form of an entry: its JSON, fields in one order (what `prev` hashes). */
export function encodeEntry(entry: AuditEntry): Buffer {
  const { writer, seq, at, action, actor, outcome, details, prev } = entry;
  return Buffer.from(JSON.stringify({ writer, seq, at, action, actor, outcome, details, prev }), 'utf8');
}

export interface AuditLogOptions {
  readonly log: EventLog;
  /** this process's name in the trail (default `default`): its entries chain among themselves */
  readonly writer?: string;
  /** sees every stored entry while `open` reads the trail for the head (one pass for both) */
  readonly onEntry?: (entry: AuditEntry) => void;
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

  readonly #writer: string;
  /** an append failed: it may still land (a Kafka timeout), so the head is read back before the next */
  #resync = false;

  private constructor(log: EventLog, writer: string, head: { seq: number; prev: string }, now: () => number) {
    this.#log = log;
    this.#writer = writer;
    this.#seq = head.seq;
    this.#prev = head.prev;
    this.#now = now;
  }

  /**
   * Opens the trail for `writer`: its head is the writer's last stored entry, read back (the
   * whole trail is read once, as other writers' entries may follow it), so a restart links on.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const { log } = options;
    if (log.partitions !== 1) throw new Error(`the audit log needs one partition (it has ${log.partitions}): its entries have one order`);
    const writer = options.writer ?? 'default';
    return new AuditLog(log, writer, await headOf(log, writer, options.onEntry), options.now ?? Date.now);
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
      if (this.#resync) {
        try {
          ({ seq: this.#seq, prev: this.#prev } = await headOf(this.#log, this.#writer));
          this.#resync = false;
        } catch (err) {
          for (const p of this.#pending.splice(0)) p.reject(err);
          continue;
        }
      }
      const group = this.#pending.splice(0);
      let seq = this.#seq;
      let prev = this.#prev;
      const values = group.map(({ input }) => {
        const bytes = encodeEntry({ writer: this.#writer, seq: seq++, at: input.at!, action: input.action, actor: input.actor, outcome: input.outcome, details: input.details, prev });
        prev = sha256Hex(bytes);
        return bytes;
      });
      try {
        await this.#log.append(values.map((value) => ({ key: RECORD_KEY, value })));
      } catch (err) {
        this.#resync = true;
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

/** A writer's head in the trail: the seq and hash its next entry links to. */
async function headOf(log: EventLog, writer: string, onEntry?: (entry: AuditEntry) => void): Promise<{ seq: number; prev: string }> {
  let head = { seq: 0, prev: GENESIS };
  for await (const batch of log.read({ until: await log.endPosition() })) {
    for (const r of batch) {
      const e = JSON.parse(r.value.toString('utf8')) as Partial<AuditEntry>;
      onEntry?.(e as AuditEntry);
      if (e.writer === writer && typeof e.seq === 'number') head = { seq: e.seq + 1, prev: sha256Hex(r.value) };
    }
  }
  return head;
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** the hash the next entry would link to */
  readonly head: string;
  /** the first link that does not hold */
  readonly broken?: { readonly offset: number; readonly seq?: number; readonly problem: string };
}

/** Walks stored entries in order and reports the first broken link of any writer's chain. */
export async function verifyEntries(records: AsyncIterable<readonly Pick<LogRecord, 'offset' | 'value'>[]>): Promise<AuditVerification> {
  const chains = new Map<string, { prev: string; seq: number }>();
  let entries = 0;
  let last = GENESIS;
  for await (const batch of records) {
    for (const r of batch) {
      let entry: Partial<AuditEntry>;
      try {
        entry = JSON.parse(r.value.toString('utf8')) as Partial<AuditEntry>;
      } catch {
        return { ok: false, entries, head: last, broken: { offset: r.offset, problem: 'the entry is not JSON: it was changed' } };
      }
      const at = { offset: r.offset, ...(typeof entry.seq === 'number' ? { seq: entry.seq } : {}) };
      if (typeof entry.writer !== 'string') return { ok: false, entries, head: last, broken: { ...at, problem: 'the entry names no writer: it was changed' } };
      const chain = chains.get(entry.writer) ?? { prev: GENESIS, seq: 0 };
      if (entry.prev !== chain.prev) {
        return {
          ok: false,
          entries,
          head: last,
          broken: { ...at, problem: `its prev is ${String(entry.prev).slice(0, 16)}…, not the SHA-256 of writer ${entry.writer}'s entry before it (${chain.prev.slice(0, 16)}…): an entry before it was changed, removed or moved` },
        };
      }
      if (entry.seq !== chain.seq) {
        return { ok: false, entries, head: last, broken: { ...at, problem: `its seq is ${String(entry.seq)} where ${chain.seq} was expected: an entry was removed, added or moved` } };
      }
      if (!Buffer.from(r.value).equals(encodeEntry(entry as AuditEntry))) {
        return { ok: false, entries, head: last, broken: { ...at, problem: 'the entry is not in its stored form (fields added or changed)' } };
      }
      last = sha256Hex(r.value);
      chains.set(entry.writer, { prev: last, seq: chain.seq + 1 });
      entries++;
    }
  }
  return { ok: true, entries, head: last };
}

/** Verifies the whole trail in `log`, from its start to its end now. */
export async function verifyAudit(log: EventLog): Promise<AuditVerification> {
  return verifyEntries(log.read({ until: await log.endPosition() }));
}
