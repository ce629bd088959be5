import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import jsonata from 'jsonata';
import type { Dashboard, Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { DASHBOARDS_DIR, dashboards, renderDashboards } from '../../infra/grafana/src/generate.js';
import { infinityQueries, interpolateUrl, panels, promQueries } from '../../infra/grafana/src/inspect.js';
import { PROMETHEUS_COMPOSE_CONFIG, PROMETHEUS_CONFIG } from '../../infra/prometheus/rules.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committed = async (file: string) => readFile(path.join(DASHBOARDS_DIR, file), 'utf8');

describe('Grafana dashboards as code', () => {
  it('are committed exactly as `npm run dashboards` generates them', async () => {
    const generated = renderDashboards();
    expect((await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith('.json')).sort()).toEqual(Object.keys(generated).sort());
    for (const [file, text] of Object.entries(generated)) {
      // A difference means the code changed without `npm run dashboards`.
      expect(await committed(file), `${file} is stale: run npm run dashboards`).toBe(text);
    }
  });

  for (const file of Object.keys(renderDashboards())) {
    describe(file, () => {
      const load = async () => JSON.parse(await committed(file)) as Dashboard;

      it('parses, with a uid, unique panel ids, and a title and description on every panel', async () => {
        const d = await load();
        expect(d.uid).toMatch(/^braid-/);
        const all = panels(d);
        const ids = all.map((p) => p.id);
        expect(ids.every((id) => Number.isInteger(id) && id! > 0)).toBe(true);
        expect(new Set(ids).size).toBe(ids.length);
        for (const p of all.filter((x) => x.type !== 'row')) {
          expect(p.title, `panel ${p.id}`).toBeTruthy();
          expect((p as Panel).description, `panel "${p.title}"`).toBeTruthy();
          expect((p as Panel).targets?.length, `panel "${p.title}" has no query`).toBeGreaterThan(0);
        }
      });

      it('lays its panels out on the 24-column grid without overlaps', async () => {
        const boxes = panels(await load()).map((p) => ({ title: p.title, ...p.gridPos! }));
        for (const b of boxes) expect(b.x + b.w, `"${b.title}"`).toBeLessThanOrEqual(24);
        for (const [i, a] of boxes.entries()) {
          for (const b of boxes.slice(i + 1)) {
            const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
            expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
          }
        }
      });

      it('queries only the data sources that provisioning creates, by uid', async () => {
        const provisioned = parse(await readFile(path.join(root, 'infra/grafana/provisioning/datasources/braid.yaml'), 'utf8')) as {
          datasources: Array<{ uid: string; type: string }>;
        };
        const known = new Set(provisioned.datasources.map((ds) => `${ds.type}/${ds.uid}`));
        for (const p of panels(await load()).filter((x) => x.type !== 'row')) {
          for (const t of ((p as Panel).targets ?? []) as Array<{ datasource?: { type: string; uid: string } }>) {
            expect(known.has(`${t.datasource?.type}/${t.datasource?.uid}`), `"${p.title}": ${JSON.stringify(t.datasource)}`).toBe(true);
          }
        }
      });
    });
  }

  it('filter every operations query by the instance variable, so "Instance" selects', () => {
    const queries = promQueries(dashboards()['operations.json']!);
    expect(queries.length).toBeGreaterThan(30);
    for (const q of queries) {
      for (const selector of q.expr.matchAll(/\bbraid_[a-z0-9_]+(\{[^}]*\})?/g)) {
        expect(selector[1], `"${q.panel}": ${q.expr}`).toContain('instance=~"$instance"');
      }
    }
  });

  it('give every analytics query a JSONata root selector that compiles and a relative URL of the serving API', () => {
    const queries = infinityQueries(dashboards()['analytics.json']!);
    expect(queries.length).toBeGreaterThan(8);
    for (const q of queries) {
      expect(() => jsonata(q.rootSelector), `"${q.panel}"`).not.toThrow();
      const url = new URL(interpolateUrl(q.url, new Date(0), new Date(1)), 'http://braid.invalid');
      expect(url.pathname, `"${q.panel}"`).toMatch(/^\/v1\//);
      expect(q.columns.length).toBeGreaterThan(0);
    }
  });

  it('are described panel by panel in the README', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    // Markdown wraps lines anywhere, titles included.
    const section = readme.slice(readme.indexOf('## Dashboards')).replace(/\s+/g, ' ');
    expect(section.length).toBeGreaterThan(100);
    for (const d of Object.values(dashboards())) {
      for (const p of panels(d).filter((x) => x.type !== 'row')) expect(section, `README does not describe "${p.title}"`).toContain(`**${p.title}**`);
    }
  });
});

describe('Prometheus configuration', () => {
  it('is the same for compose as for a local braid, but for the target', async () => {
    const local = parse(await readFile(PROMETHEUS_CONFIG, 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const compose = parse(await readFile(PROMETHEUS_COMPOSE_CONFIG, 'utf8')) as typeof local;
    expect(local.scrape_configs[0]!.static_configs[0]!.targets).toEqual(['127.0.0.1:8080']);
    expect(compose.scrape_configs[0]!.static_configs[0]!.targets).toEqual(['braid:8080']);
    compose.scrape_configs[0]!.static_configs[0]!.targets = ['127.0.0.1:8080'];
    expect(compose).toEqual(local);
  });
});
