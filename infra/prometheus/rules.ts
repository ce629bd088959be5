import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The committed rule file, read by the tests (promtool checks it; Prometheus loads it). */
export const RULES_FILE = fileURLToPath(new URL('./rules/braid.rules.yml', import.meta.url));
export const RULES_TEST_FILE = fileURLToPath(new URL('./rules/braid.rules.test.yml', import.meta.url));
export const PROMETHEUS_CONFIG = fileURLToPath(new URL('./prometheus.yml', import.meta.url));
export const PROMETHEUS_COMPOSE_CONFIG = fileURLToPath(new URL('./prometheus.compose.yml', import.meta.url));

export interface Rules {
  readonly recording: ReadonlyArray<{ readonly record: string; readonly expr: string }>;
  readonly alerting: ReadonlyArray<{ readonly alert: string; readonly expr: string }>;
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

export async function loadRules(file = RULES_FILE): Promise<Rules> {
  const { groups } = parse(await readFile(file, 'utf8')) as RuleFile;
  const rules = groups.flatMap((g) => g.rules);
  return {
    recording: rules.flatMap((r) => (r.record ? [{ record: r.record, expr: r.expr.trim() }] : [])),
    alerting: rules.flatMap((r) => (r.alert ? [{ alert: r.alert, expr: r.expr.trim() }] : [])),
  };
}
