import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { AnomalyDetector } from '../shared/audit/anomalies.js';
import { AuditLog, pseudonym, sha256Hex, verifyAudit, type AuditEntry, type AuditInput, type AuditVerification } from '../shared/audit/audit-log.js';
import type { ResolvedConfig } from '../shared/config/index.js';
import { isMissing } from '../shared/files.js';
import type { EventLog } from '../shared/log/types.js';

/** What `GET /v1/audit` filters by. */
export interface AuditQuery {
  readonly from?: number;
  readonly to?: number;
  readonly action?: string;
  readonly actor?: string;
  readonly limit: number;
  readonly offset: number;
}

/**
 * The process's audit trail (contract §11): the chain (shared/audit) over its own log, the
 * pseudonym key, and the reads the API serves. Opened by the node before any role starts, so
 * the first entry of every start is the start itself.
 */
export class AuditTrail {
  readonly log: EventLog;
  readonly #chain: AuditLog;
  readonly #secret: string;
  readonly anomalies: AnomalyDetector;

  private constructor(log: EventLog, chain: AuditLog, secret: string, anomalies: AnomalyDetector) {
    this.log = log;
    this.#chain = chain;
    this.#secret = secret;
    this.anomalies = anomalies;
  }

  static async open(config: ResolvedConfig, log: EventLog, logger: Logger): Promise<AuditTrail> {
    const secret = config.audit.secret ?? (await keptSecret(config.dataDir, logger));
    // One chain per process: the host and the data directory name it (several processes can share the Kafka trail).
    const writer = `${hostname()}:${sha256Hex(Buffer.from(path.resolve(config.dataDir), 'utf8')).slice(0, 12)}`;
    // The detectors' windows are an hour at most: the last hour of the trail fills them again
    // after a restart, in the same pass that finds this writer's head.
    const anomalies = new AnomalyDetector(config.audit.anomalies);
    const since = Date.now() - 3_600_000;
    const chain = await AuditLog.open({ log, writer, onEntry: (e) => (Date.parse(e.at) >= since ? anomalies.observe(e) : undefined) });
    const trail = new AuditTrail(log, chain, secret, anomalies);
    await trail.record({ action: 'start', actor: 'system', outcome: 'ok', details: { configDigest: configDigest(config), mode: config.mode, log: config.log.kind } });
    return trail;
  }

  /** Appends an entry (durable when this resolves); the anomaly detectors see it then. */
  async record(input: AuditInput): Promise<void> {
    await this.#chain.record(input);
    this.anomalies.observe({ at: input.at ?? new Date().toISOString(), action: input.action, actor: input.actor, details: input.details });
  }

  /** A subject as the audit may name it. */
  pseudonym(subject: string): string {
    return pseudonym(this.#secret, subject);
  }

  head(): { seq: number; hash: string } {
    return this.#chain.head();
  }

  verify(): Promise<AuditVerification> {
    return verifyAudit(this.log);
  }

  /** Entries matching `q`, oldest first, paged; `total` is every match. Reads the trail from its start (bounded by `limit` only in what it returns). */
  async query(q: AuditQuery): Promise<{ entries: AuditEntry[]; total: number }> {
    const entries: AuditEntry[] = [];
    let total = 0;
    for await (const batch of this.log.read({ until: await this.log.endPosition() })) {
      for (const r of batch) {
        const e = JSON.parse(r.value.toString('utf8')) as AuditEntry;
        const t = Date.parse(e.at);
        if ((q.from !== undefined && t < q.from) || (q.to !== undefined && t >= q.to) || (q.action && e.action !== q.action) || (q.actor && e.actor !== q.actor)) continue;
        if (total >= q.offset && entries.length < q.limit) entries.push(e);
        total++;
      }
    }
    return { entries, total };
  }

  async close(): Promise<void> {
    await this.#chain.close();
    await this.log.close();
  }
}

/**
 * The config's SHA-256 with every secret replaced (API keys, the audit secret): two starts
 * with the same settings have the same digest, and no secret can be read back from it.
 */
export function configDigest(config: ResolvedConfig): string {
  const redacted = {
    ...config,
    keys: config.keys.map((k) => ({ name: k.name, scopes: k.scopes })),
    auth: { ...config.auth, apiKeys: [] },
    audit: { ...config.audit, secret: config.audit.secret === undefined ? undefined : 'redacted' },
  };
  return sha256Hex(Buffer.from(JSON.stringify(redacted, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)), 'utf8'));
}

/** The pseudonym key kept beside the data when the config names none: made once, readable by the owner only. */
async function keptSecret(dataDir: string, logger: Logger): Promise<string> {
  const file = path.join(dataDir, 'audit.secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  const secret = randomBytes(32).toString('hex');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  logger.info({ file }, 'audit: made a pseudonym key (set audit.secret to choose one); keep the file with the data');
  return (await readFile(file, 'utf8')).trim();
}
