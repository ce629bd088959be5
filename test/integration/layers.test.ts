import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = path.join(root, 'node_modules', '.bin', 'depcruise');
const config = path.join(root, '.dependency-cruiser.cjs');
const Folders = ['shared', 'batch', 'speed', 'lambda', 'serving', 'cli', 'test', 'bench'];

/** The rule names dependency-cruiser reports for the tree in `dir`, with the project's own rules. */
function violations(dir: string): string[] {
  const present = Folders.filter((f) => spawnSync('test', ['-d', path.join(dir, f)]).status === 0);
  const run = spawnSync(depcruise, [...present, '--config', config, '--output-type', 'json'], { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`depcruise failed: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { summary: { violations: Array<{ rule: { name: string } }> } };
  return result.summary.violations.map((v) => v.rule.name);
}

/** A tree with one module per layer, each importing only what the layers allow, plus `extra` files. */
function tree(extra: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'braid-layers-'));
  copyFileSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  const files: Record<string, string> = {
    'shared/a.ts': 'export const a = 1;',
    'batch/b.ts': "import { a } from '../shared/a.js'; export const b = a;",
    'speed/s.ts': "import { a } from '../shared/a.js'; export const s = a;",
    'lambda/l.ts': "import { b } from '../batch/b.js'; import { s } from '../speed/s.js'; export const l = b + s;",
    'serving/h.ts': "import { l } from '../lambda/l.js'; export const h = l;",
    'cli/c.ts': "import { h } from '../serving/h.js'; export const c = h;",
    'test/t.ts': "import { c } from '../cli/c.js'; export const t = c;",
    ...extra,
  };
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

describe('the layer rules (npm run layers, part of npm test)', () => {
  it('hold for the project as it is', () => {
    expect(violations(root)).toEqual([]);
  });

  it('hold for a tree whose imports all run down the layers', () => {
    const dir = tree({});
    try {
      expect(violations(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['shared importing a layer', { 'shared/up.ts': "import { b } from '../batch/b.js'; export const up = b;" }, 'shared-imports-no-layer'],
    ['batch importing speed', { 'batch/x.ts': "import { s } from '../speed/s.js'; export const x = s;" }, 'batch-sees-only-shared'],
    ['batch importing serving', { 'batch/x.ts': "import { h } from '../serving/h.js'; export const x = h;" }, 'batch-sees-only-shared'],
    ['speed importing batch', { 'speed/x.ts': "import { b } from '../batch/b.js'; export const x = b;" }, 'speed-sees-only-shared'],
    ['speed importing a type of serving', { 'speed/x.ts': "import type { h } from '../serving/h.js'; export type X = typeof h;" }, 'speed-sees-only-shared'],
    ['the hand-off importing HTTP', { 'lambda/x.ts': "import { h } from '../serving/h.js'; export const x = h;" }, 'lambda-knows-no-http'],
    ['production code importing a test', { 'serving/x.ts': "import { t } from '../test/t.js'; export const x = t;" }, 'production-imports-no-tests'],
    ['production code importing a bench', { 'bench/k.ts': 'export const k = 1;', 'shared/x.ts': "import { k } from '../bench/k.js'; export const x = k;" }, 'production-imports-no-tests'],
    ['an import cycle', { 'shared/p.ts': "import { q } from './q.js'; export const p = () => q;", 'shared/q.ts': "import { p } from './p.js'; export const q = () => p;" }, 'no-cycles'],
  ])('fail on %s', (_what, extra, rule) => {
    const dir = tree(extra as Record<string, string>);
    try {
      expect(violations(dir)).toContain(rule);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
