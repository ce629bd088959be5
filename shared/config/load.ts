import { readFile } from 'node:fs/promises';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import cron from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { BraidError } from '../errors.js';
import { ConfigSchema, SIZE_PATTERN, Scopes, leafKeys, type BraidConfig, type Scope } from './schema.js';
import { parseViews, type ViewDefinition } from '../views/index.js';

/** `server.port` → `BRAID_SERVER_PORT`, `log.kafka.brokers` → `BRAID_LOG_KAFKA_BROKERS`. */
export function envName(path: string): string {
  return `BRAID_${path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()}`;
}

/** Short names users expect beside the systematic ones (contract §9, CLI flags). */
const ENV_ALIASES: Record<string, string> = {
  BRAID_KAFKA_BROKERS: 'log.kafka.brokers',
  BRAID_PORT: 'server.port',
  BRAID_HOST: 'server.host',
  BRAID_API_KEYS: 'auth.apiKeys',
  BRAID_PARTITIONS: 'log.partitions',
};

export interface LoadOptions {
  /** Path of braid.yaml; none means defaults (plus env and overrides). */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Highest precedence, e.g. CLI flags, as dotted paths: { 'server.port': 9000 }. */
  readonly overrides?: Record<string, unknown>;
}

/** An API key with its name and scopes: a key given alone is named by its place and has every scope. */
export interface ApiKey {
  readonly name: string;
  readonly key: string;
  readonly scopes: readonly Scope[];
}

/** The config with what start-up derives: which log, and its partition count. */
export type ResolvedConfig = BraidConfig & {
  log: BraidConfig['log'] & { kind: 'embedded' | 'kafka'; partitions: number };
  /** auth.apiKeys, each with a name and scopes */
  keys: ApiKey[];
  /** dedupe.window in ms; Infinity for forever */
  dedupeWindowMs: number;
  /** dedupe.skew in ms */
  dedupeSkewMs: number;
  /** log.retention in ms; Infinity for forever */
  retentionMs: number;
  viewDefinitions: ViewDefinition[];
};

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const UNIT_BYTES = { KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;

const SIZE = new RegExp(SIZE_PATTERN);

/** '512MB', '1.5GiB' → bytes. */
export function parseSize(text: string): number {
  const m = SIZE.exec(text);
  if (!m) throw new BraidError('invalid_config', `"${text}" is not a size; write e.g. 512MB or 2GB`);
  return Math.round(Number(m[1]) * UNIT_BYTES[m[2] as keyof typeof UNIT_BYTES]);
}

/** '90s', '30m', '24h', '7d', '250ms' or 'forever' (Infinity). */
export function parseDuration(text: string): number {
  if (text === 'forever') return Infinity;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new BraidError('invalid_config', `"${text}" is not a duration; write e.g. 90s, 30m, 24h, 7d or forever`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * defaults < braid.yaml < environment < overrides. Every problem is reported at once, each
 * naming the key, what is wrong and where to fix it.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  let fromFile: unknown = {};
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (err) {
      throw new BraidError('invalid_config', `cannot read the config file ${options.file}: ${(err as Error).message}`);
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (err) {
      throw new BraidError('invalid_config', `${options.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) {
      throw new BraidError('invalid_config', `${options.file} must hold a YAML mapping of settings at the top level`);
    }
  }
  return resolveConfig(fromFile as Record<string, unknown>, env, options.overrides ?? {}, options.file);
}

export function resolveConfig(
  fromFile: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  overrides: Record<string, unknown> = {},
  file = 'braid.yaml',
): ResolvedConfig {
  const merged = structuredClone(fromFile);
  const problems: string[] = [];
  const leaves = new Map(leafKeys().map((l) => [l.path, l.schema]));
  const sourceOf = new Map<string, string>();

  const envEntries: Array<[string, string]> = [];
  for (const [alias, path] of Object.entries(ENV_ALIASES)) envEntries.push([alias, path]);
  for (const path of leaves.keys()) envEntries.push([envName(path), path]);
  for (const [name, path] of envEntries) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = fromEnvString(raw, leaves.get(path)!);
    setPath(merged, path, value);
    sourceOf.set(path, `environment variable ${name}`);
  }
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!leaves.has(path)) throw new BraidError('invalid_config', `unknown setting "${path}"`);
    setPath(merged, path, value);
    sourceOf.set(path, 'the command line');
  }

  const withDefaults = Value.Default(ConfigSchema, merged) as Record<string, unknown>;
  const where = (path: string) => sourceOf.get(path) ?? `${file} or ${leaves.has(path) ? envName(path) : 'remove it'}`;
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const path = error.path.slice(1).replace(/\//g, '.');
    // Unions and intersections repeat the same failure once per branch; one line is enough.
    if (problems.some((p) => p.startsWith(`${path || '(top level)'}:`))) continue;
    problems.push(`${path || '(top level)'}: ${explain(error.message, error.value, path, leaves, error.schema)} (set in ${where(path)})`);
  }
  // Cron expressions: node-cron's own parser decides, so a schedule that loads also runs.
  for (const [path, schema] of leaves) {
    const value = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], withDefaults);
    if (schema.schedule !== true || typeof value !== 'string' || value === 'off' || cron.validate(value)) continue;
    problems.push(`${path}: "${value}" is not a cron expression; write e.g. "*/5 * * * *" (every five minutes) or "off" (set in ${where(path)})`);
  }
  if (problems.length > 0) {
    throw new BraidError('invalid_config', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  const config = withDefaults as BraidConfig;
  let views: ViewDefinition[];
  try {
    views = parseViews(config.views);
  } catch (err) {
    throw new BraidError('invalid_config', `${(err as Error).message}\n  (set in ${sourceOf.get('views') ?? file})`, { cause: err });
  }
  const kind = config.log.kafka.brokers.length > 0 ? 'kafka' : 'embedded';
  const keys = config.auth.apiKeys.map((k, i): ApiKey => (typeof k === 'string' ? { name: `key-${i + 1}`, key: k, scopes: Scopes } : k));
  const names = keys.map((k) => k.name);
  const problemsAfter: string[] = [];
  if (new Set(names).size !== names.length) problemsAfter.push('auth.apiKeys: two keys have the same name; give each its own');
  if (new Set(keys.map((k) => k.key)).size !== keys.length) problemsAfter.push('auth.apiKeys: a key is listed twice; list it once, with every scope it needs');
  if (config.auth.reads === 'key' && !keys.some((k) => k.scopes.includes('read'))) {
    problemsAfter.push('auth.reads is "key" but no key in auth.apiKeys has the read scope; add one, or set auth.reads to open');
  }
  const retentionMs = parseDuration(config.log.retention);
  if (Number.isFinite(retentionMs)) {
    if (config.dedupe.window === 'forever') {
      problemsAfter.push('log.retention is finite but dedupe.window is forever: the speed layer must then read every id before S from the log at start; set a finite window, or keep the log forever');
    }
    if (config.mode === 'kappa') problemsAfter.push('log.retention is finite in kappa mode, which has no archive to keep the records the log deletes; keep the log forever, or run in lambda mode');
  }
  if (problemsAfter.length > 0) throw new BraidError('invalid_config', `invalid configuration:\n  - ${problemsAfter.join('\n  - ')}`, { details: problemsAfter });
  return {
    ...config,
    keys,
    log: { ...config.log, kind, partitions: config.log.partitions ?? (kind === 'kafka' ? 4 : 1) },
    dedupeWindowMs: parseDuration(config.dedupe.window),
    dedupeSkewMs: parseDuration(config.dedupe.skew),
    retentionMs,
    viewDefinitions: views,
  };
}

function explain(message: string, value: unknown, path: string, leaves: Map<string, TSchema>, schema: TSchema): string {
  if (/Unexpected property/i.test(message)) {
    const parent = path.split('.').slice(0, -1).join('.');
    const siblings = [...leaves.keys()]
      .filter((k) => k.startsWith(parent ? `${parent}.` : ''))
      .map((k) => k.slice(parent ? parent.length + 1 : 0).split('.')[0]);
    return `unknown setting; known here: ${[...new Set(siblings)].join(', ')}`;
  }
  // Only a hint the schema states: a type error already says what the type must be.
  const hint = typeof schema.hint === 'string' ? schema.hint : undefined;
  return `${message.replace(/^Expected/, 'expected')}, got ${JSON.stringify(value)}${hint ? `; ${hint}` : ''}`;
}

function fromEnvString(raw: string, schema: TSchema): unknown {
  // A list of anything (views) comes as YAML or JSON text; other lists comma-separated.
  const items = schema.items as TSchema | undefined;
  if (schema.type === 'array' && items?.type === undefined && items?.anyOf === undefined) return parseYaml(raw);
  if (schema.type === 'array') return raw.split(',').map((s) => s.trim()).filter(Boolean);
  const numeric = schema.type === 'integer' || schema.type === 'number';
  if (numeric) return /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
  if (schema.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}
