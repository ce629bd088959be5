import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROMETHEUS_COMPOSE_CONFIG, PROMETHEUS_CONFIG, RULES_FILE, RULES_TEST_FILE } from '../../infra/prometheus/rules.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_FILE = path.join(root, 'infra/docker-compose.yml');

/** Runs a tool; on failure the assertion shows what it printed. .ci/run installs the tools. */
async function run(file: string, args: string[], cwd = root): Promise<{ code: number; stdout: string; out: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd, timeout: 60_000 });
    return { code: 0, stdout, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`${file} is not installed; .ci/run installs it (apt-get install prometheus docker-compose)`);
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', out: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

describe('promtool', () => {
  it('accepts both Prometheus configurations and the rules they load', async () => {
    for (const config of [PROMETHEUS_CONFIG, PROMETHEUS_COMPOSE_CONFIG]) {
      const res = await run('promtool', ['check', 'config', config]);
      expect(res.out).toMatch(/SUCCESS: .* is valid prometheus config file syntax/);
      expect(res.code, res.out).toBe(0);
    }
  });

  it('accepts the rules', async () => {
    const res = await run('promtool', ['check', 'rules', RULES_FILE]);
    expect(res.code, res.out).toBe(0);
    expect(res.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes the alert unit tests: each alert fires on its series and stays silent on a healthy one', async () => {
    const res = await run('promtool', ['test', 'rules', path.basename(RULES_TEST_FILE)], path.dirname(RULES_TEST_FILE));
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain('SUCCESS');
  });

  it('has a unit test for every alert', async () => {
    const rules = parse(await readFile(RULES_FILE, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> };
    const tests = parse(await readFile(RULES_TEST_FILE, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const fired = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(alerts.length).toBeGreaterThan(5);
    expect(alerts.filter((a) => !fired.has(a))).toEqual([]);
  });
});

/** `docker compose` (the CLI plugin) when present, else Debian's docker-compose; neither needs an engine for `config`. */
async function composeCommand(): Promise<[string, string[]]> {
  const plugin = await exec('docker', ['compose', 'version']).then(() => true, () => false);
  return plugin ? ['docker', ['compose']] : ['docker-compose', []];
}

describe('infra/docker-compose.yml', () => {
  it('is a valid compose file whose build files and mounts exist', async () => {
    const [file, prefix] = await composeCommand();
    const res = await run(file, [...prefix, '-f', COMPOSE_FILE, 'config']);
    expect(res.code, res.out).toBe(0);
    const config = parse(res.stdout) as {
      services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; volumes?: Array<string | { type: string; source: string }> }>;
    };
    expect(Object.keys(config.services).sort()).toEqual(['braid', 'grafana', 'kafka', 'prometheus']);
    const braid = config.services.braid!;
    await access(path.resolve(braid.build!.context, braid.build!.dockerfile));
    for (const service of Object.values(config.services)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : volume.source;
        if (source.startsWith('/')) await access(source); // a bind mount: the file or folder is in the repository
      }
    }
    expect(config.services.kafka!.image).toMatch(/^apache\/kafka:/);
    expect(JSON.stringify(config.services.grafana)).toContain('yesoreyeram-infinity-datasource');
  });
});
