import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { analyticsDashboard } from './analytics.js';
import { operationsDashboard } from './operations.js';

/** Where the generated dashboards are committed (and what Grafana's file provider reads). */
export const DASHBOARDS_DIR = fileURLToPath(new URL('../dashboards/', import.meta.url));

/** The dashboards as code, by file name. */
export function dashboards(): Record<string, Dashboard> {
  return {
    'operations.json': numberPanels(operationsDashboard().build()),
    'analytics.json': numberPanels(analyticsDashboard().build()),
  };
}

/** The committed text of each dashboard file. */
export function renderDashboards(): Record<string, string> {
  return Object.fromEntries(Object.entries(dashboards()).map(([file, d]) => [file, `${JSON.stringify(d, null, 2)}\n`]));
}

/** Panel ids 1, 2, 3… in layout order (rows included): unique, and stable as long as the layout is. */
function numberPanels(d: Dashboard): Dashboard {
  let id = 0;
  for (const panel of d.panels ?? []) {
    panel.id = ++id;
    for (const inner of 'panels' in panel ? panel.panels : []) inner.id = ++id;
  }
  return d;
}

async function main(): Promise<void> {
  for (const [file, text] of Object.entries(renderDashboards())) {
    const target = path.join(DASHBOARDS_DIR, file);
    await writeFile(target, text);
    process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
