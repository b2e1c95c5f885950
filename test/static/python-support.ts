// Shared by the Python static-rule tests: fixture copies, the real pytest run, applying fixes.
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../src/analysis/findings';
import { EditPlan } from '../../src/static/fix';
import { python, repoRoot, tempDir } from '../support/env';

export const fixturesDir = join(repoRoot, 'test', 'fixtures', 'static', 'python');

export function fixture(rule: string, variant: 'buggy' | 'fixed'): string {
  return join(fixturesDir, rule, variant);
}

/** A private copy of a fixture workspace (fixes write to it). */
export function copyFixture(rule: string, variant: 'buggy' | 'fixed'): string {
  const dir = join(tempDir(`static-${rule}-${variant}`), 'ws');
  cpSync(fixture(rule, variant), dir, { recursive: true });
  return dir;
}

/** A private copy of a fixture project that has no buggy/fixed variants (test/fixtures/static/python/<name>). */
export function copyProject(name: string): string {
  const dir = join(tempDir(`static-${name}`), 'ws');
  cpSync(join(fixturesDir, name), dir, { recursive: true });
  return dir;
}

/** Runs the fixture's own pytest suite (with the SQLAlchemy 2.0 environment unless told). */
export function pytest(cwd: string, env: NodeJS.ProcessEnv = {}, venv: 'sa14' | 'sa20' = 'sa20'): { ok: boolean; output: string } {
  const r = spawnSync(python(venv), ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], {
    cwd,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
    encoding: 'utf8',
  });
  return { ok: r.status === 0, output: `${r.stdout}\n${r.stderr}` };
}

/** Applies, for every finding, the fix `choose` picks; returns how many were applied. */
export function applyFixes(findings: Finding[], choose: (f: Finding) => Finding['fixes'][number] | undefined): number {
  const plan = new EditPlan();
  let n = 0;
  for (const f of findings) {
    const fix = choose(f);
    if (fix && plan.add(fix.edits)) n++;
  }
  plan.apply();
  return n;
}

export function at(f: Finding): string {
  return `${f.location.file}:${f.location.line}`;
}
