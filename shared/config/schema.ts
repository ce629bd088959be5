import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * braid.yaml, as a TypeBox schema: the single description of every key, its type, its
 * default and its documentation. Loading (load.ts) derives the environment overrides and
 * the error messages from it, so a key added here is configurable everywhere at once.
 */
const Positive = (d: number, description: string) => Type.Integer({ minimum: 1, default: d, description });
const Between = (minimum: number, maximum: number, d: number, description: string) => Type.Integer({ minimum, maximum, default: d, description });

/** A memory size: 512MB, 1.5GiB. The one pattern of sizes; `parseSize` reads it. */
export const SIZE_PATTERN = '^(\\d+(?:\\.\\d+)?)\\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$';
export const Size = (d: string, description: string) => Type.String({ pattern: SIZE_PATTERN, default: d, description, hint: 'write a size such as 512MB or 2GB' });

/** An API key as a client can send it in a header: 16 or more visible ASCII characters, no spaces. */
const ApiKeyText = Type.String({ minLength: 16, pattern: '^[!-~]+$', hint: 'use 16 or more visible ASCII characters, no spaces (a header cannot carry others)' });

export const Scopes = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof Scopes)[number];

/** A key with a name (what logs and the audit say instead of the secret) and its scopes. */
const NamedApiKey = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', hint: 'name it with 1-64 of [A-Za-z0-9_.-]' }),
    key: ApiKeyText,
    scopes: Type.Array(Type.Union(Scopes.map((s) => Type.Literal(s))), { minItems: 1, uniqueItems: true, hint: `list one or more of ${Scopes.join(', ')}` }),
  },
  { additionalProperties: false },
);

/** A node-cron expression or "off"; checked with node-cron when the config loads. */
const Schedule = (d: string, description: string) => Type.String({ minLength: 1, default: d, description, schedule: true });

/** braid.yaml `archive:` — also the archiver's own options (batch/archive/options.ts). */
export const ArchiveSettings = Type.Object(
  {
    flushRecords: Between(1, 10_000_000, 100_000, 'The archiver writes a Parquet file per partition after this many records...'),
    flushIntervalMs: Between(1, 3_600_000, 2_000, '...or after this long (ms), whichever comes first.'),
    compactMinFiles: Between(2, 100_000, 8, 'Compact once a partition has this many small files in a row.'),
    compactTargetRecords: Between(2, 1_000_000_000, 2_000_000, 'Files smaller than this many records are small; compaction merges them up to it.'),
    writeThreads: Between(0, 1, 1, 'A worker thread that makes the archive\'s rows and writes its files off the event loop (0: on the event loop; flushes go one at a time, so one thread is all they use).'),
  },
  { additionalProperties: false, default: {} },
);

/** braid.yaml `batch:` — the tunables of batch runs (batch/recompute/options.ts) and their schedule. */
export const BatchSettings = Type.Object(
  {
    schedule: Schedule('*/5 * * * *', 'node-cron expression of scheduled batch runs (incremental when they can be); "off" to run on demand only.'),
    fullSchedule: Schedule('0 3 * * *', 'node-cron expression of scheduled full recomputations (every record again); "off" for on demand and definition changes only.'),
    maxDeltas: Between(1, 1_000, 24, 'Incremental runs after a full one before the next run is full: a version is its full run\'s states and at most this many deltas.'),
    keepVersions: Between(1, 1_000, 3, 'Batch versions kept on disk (the serving one included).'),
    memoryLimit: Size('2GB', 'DuckDB memory limit of a run; larger work spills to disk.'),
    threads: Between(1, 1_024, 2, 'DuckDB threads of a run.'),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: './.braid', description: 'Holds the embedded log, the archive and the batch versions.' }),
    server: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to listen on; 0.0.0.0 for every interface.' }),
        port: Type.Integer({ minimum: 0, maximum: 65_535, default: 8080, description: 'HTTP port; 0 picks a free one.' }),
        bodyTimeoutMs: Between(100, 600_000, 30_000, 'A request body must arrive whole within this long (ms) of the request; then 408 and the connection closes.'),
        shutdownTimeoutMs: Between(100, 600_000, 10_000, 'On SIGTERM, requests in flight get this long (ms) to finish; then open connections are closed and braid stops.'),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        partitions: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 1024, description: 'Partitions of the log; default 1 embedded, 4 on Kafka.' }),
        ),
        kafka: Type.Object(
          {
            brokers: Type.Array(Type.String({ minLength: 1 }), {
              default: [],
              description: 'host:port list; non-empty selects Kafka instead of the embedded log (env BRAID_KAFKA_BROKERS).',
            }),
            topic: Type.String({ minLength: 1, maxLength: 249, pattern: '^[A-Za-z0-9._-]+$', default: 'braid-events', description: 'The one topic that holds every event; created when missing.' }),
            clientId: Type.String({ minLength: 1, default: 'braid', description: 'Kafka client id of this process.' }),
            replicationFactor: Positive(1, 'Replication factor of the topic braid creates.'),
          },
          { additionalProperties: false, default: {} },
        ),
        segmentSize: Size('64MB', 'Embedded log: a partition\'s segment file is sealed and the next begun past this size; log.retention deletes whole segments.'),
        tailCacheSize: Size('16MB', 'Embedded log: the most recent appends of each partition kept decoded in memory, from which readers that keep up (archive, speed layer) take them instead of reading the file again. 0MB reads every record from the file.'),
        retention: Type.String({
          pattern: '^(forever|\\d+(ms|s|m|h|d))$',
          default: 'forever',
          description:
            'How long the log keeps records once the archive holds them: 7d, 12h, ... or forever. braid deletes older ones itself (whole segments embedded, DeleteRecords on Kafka), never one the archive lacks or the speed layer may still read; replays read the archive for them.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        apiKeys: Type.Array(Type.Union([ApiKeyText, NamedApiKey]), {
          default: [],
          description:
            'When non-empty, writes need one of these keys (Authorization: Bearer KEY or X-API-Key: KEY): a key alone has every scope; {name, key, scopes} has those of ingest, read, admin.',
        }),
        reads: Type.Union([Type.Literal('open'), Type.Literal('key')], {
          default: 'open',
          description: 'key: queries, job and status reads need a key with the read scope too; open: they need none. Probes, /metrics and /docs stay open.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    ingest: Type.Object(
      {
        maxFutureMs: Positive(3_600_000, 'Events more than this far after now are rejected (ms).'),
        maxEventBytes: Positive(65_536, 'Largest serialised event (bytes).'),
        maxDepth: Between(1, 1_000, 64, 'How deep the data of an event may nest objects and arrays (data itself is level 1).'),
        maxBatchEvents: Positive(10_000, 'Most events in one request.'),
        maxBodyBytes: Positive(16_777_216, 'Largest request body (bytes).'),
        appendTimeoutMs: Positive(10_000, 'A request waits at most this long for the log before answering 503 (ms).'),
        decodeThreads: Between(0, 16, 1, 'Worker threads that decode and validate request bodies off the event loop (0: on the event loop).'),
        decodeQueue: Between(1, 100_000, 1_000, 'Bodies waiting for or in a decoding thread at most; one more is a 503.'),
      },
      { additionalProperties: false, default: {} },
    ),
    query: Type.Object(
      {
        maxGroups: Between(1_000, 1_000_000_000, 20_000_000, 'The most groups one query may merge from its sources (batch version, speed segments, replay) after its filters; more is a 413.'),
        timeoutMs: Between(10, 600_000, 5_000, 'The longest one query may run (ms); longer is a 413.'),
        cacheMemory: Size('512MB', 'The most memory the roll-ups and group maps queries keep of immutable tables (batch versions, sealed speed segments) may take; least recently used first out.'),
        concurrency: Between(1, 64, 4, 'Queries executed at once; each pauses every few milliseconds so ingest is never held up.'),
        maxQueued: Between(0, 100_000, 256, 'Queries waiting for a turn; one more is answered 503 overloaded.'),
        threads: Between(0, 16, 0, 'Worker threads that execute queries, each with a copy of the immutable tables it answers from (0, the default: on the event loop, between ingest requests; see docs/architecture.md "Query threads" for when threads help).'),
      },
      { additionalProperties: false, default: {} },
    ),
    mode: Type.Union([Type.Literal('lambda'), Type.Literal('kappa')], {
      default: 'lambda',
      description: 'lambda: batch + speed merged; kappa: every view from the stream fold over the whole log, no archive or batch.',
    }),
    verify: Type.Object(
      {
        schedule: Schedule('*/10 * * * *', 'node-cron expression of Lambda-vs-Kappa verifications; "off" for on demand only.'),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Append every write and admin action to the hash-chained audit trail (a second log beside the events).' }),
        secret: Type.Optional(
          Type.String({
            minLength: 16,
            description: 'The key of the subject pseudonyms in the audit (HMAC-SHA-256); default: one generated at first start and kept in <dataDir>/audit.secret.',
            hint: 'use 16 or more characters',
          }),
        ),
        anomalies: Type.Object(
          {
            keyAddressesPerHour: Between(1, 1_000_000, 20, 'An API key used from more client addresses than this within an hour is an anomaly.'),
            failedAuthPerMinute: Between(1, 1_000_000, 30, 'More rejected authentications than this from one address within a minute is an anomaly.'),
            exportsPerHour: Between(1, 1_000_000, 100, 'More subject exports than this within an hour (all keys) is an anomaly.'),
            erasuresPerHour: Between(1, 1_000_000, 100, 'More subject erasures than this within an hour (all keys) is an anomaly.'),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    replay: Type.Object(
      {
        checkpointRecords: Between(1_000, 1_000_000_000, 1_000_000, 'A Kappa replay writes a checkpoint (its states and position, on disk) every this many records; a killed replay, or the next one, goes on from the last.'),
      },
      { additionalProperties: false, default: {} },
    ),
    roles: Type.Object(
      {
        ingest: Type.Boolean({ default: true, description: 'Serve POST /v1/events.' }),
        archive: Type.Boolean({ default: true, description: 'Archive the log to Parquet.' }),
        batch: Type.Boolean({ default: true, description: 'Run batch recomputations (schedule and API); needs the archive role in the same process for now.' }),
        speed: Type.Boolean({ default: true, description: 'Keep the speed layer (and so Lambda answers) in this process.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    dedupe: Type.Object(
      {
        window: Type.String({
          pattern: '^(forever|\\d+(ms|s|m|h|d))$',
          default: '24h',
          description: 'A record whose id appeared in the same partition at most this long before is a duplicate: 90s, 30m, 24h, 7d or forever.',
        }),
        skew: Type.String({
          pattern: '^\\d+(ms|s|m|h|d)$',
          default: '5m',
          description: 'How far append times may go back between producers: the speed layer keeps ids this much longer than the window, and reads back this much more at start.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    archive: ArchiveSettings,
    batch: BatchSettings,
    speed: Type.Object(
      {
        maxDedupeMemory: Size('1GB', 'The most memory the speed layer\'s dedupe state may take; a dedupe.window that needs more is refused at start.'),
      },
      { additionalProperties: false, default: {} },
    ),
    views: Type.Array(Type.Unknown(), {
      default: [],
      description: 'The views (contract §4); validated on their own with messages naming view, field and fix. Env: YAML or JSON text.',
    }),
    logging: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'pino log level.' },
        ),
        format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], {
          default: 'auto',
          description: 'json: one JSON object a line; pretty: human-readable lines; auto: pretty on a terminal, json otherwise.',
        }),
        slowRequestMs: Positive(1_000, 'A request that takes this long (ms) is logged at info; others at debug (errors always at info or above).'),
        summaryIntervalMs: Type.Integer({ minimum: 0, default: 60_000, description: 'A one-line summary (events/s accepted, lag, last batch run) every this many ms; 0 for none.' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type BraidConfig = Static<typeof ConfigSchema>;

/** Leaf keys of the schema with their dotted path, for env overrides and docs. */
export function leafKeys(schema: TSchema = ConfigSchema, prefix = ''): Array<{ path: string; schema: TSchema }> {
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([k, s]) =>
      leafKeys(s, prefix ? `${prefix}.${k}` : k),
    );
  }
  return [{ path: prefix, schema }];
}
