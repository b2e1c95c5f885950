// The severity contract, static half: the source alone shows no consequence, so every static
// finding is at most a warning; a run raises the ones its trace confirms (and the trace's own
// finding, when it tells the same story, stands in for the static one, with its fix).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../src/analysis/findings';
import { StaticChecker } from '../../src/static/checker';
import { pythonPlugin } from '../../src/static/python/plugin';
import type { LanguagePlugin } from '../../src/static/types';
import { python, repoRoot, runCli } from '../support/env';
import { copyFixture } from './python-support';

const STATIC_FIXTURES = join(repoRoot, 'test', 'fixtures', 'static');

/** Every fixture workspace under test/fixtures/static: <lang>/<rule>/<variant>, or <lang>/<project>. */
function workspaces(): string[] {
  const out: string[] = [];
  for (const lang of readdirSync(STATIC_FIXTURES)) {
    for (const name of readdirSync(join(STATIC_FIXTURES, lang))) {
      const dir = join(STATIC_FIXTURES, lang, name);
      const variants = ['buggy', 'fixed'].filter((v) => existsSync(join(dir, v)));
      if (variants.length) out.push(...variants.map((v) => join(dir, v)));
      else out.push(dir);
    }
  }
  return out;
}

test('static findings alone are at most warnings, in every static fixture (Python and TypeScript)', async () => {
  const dirs = workspaces();
  assert.ok(dirs.length >= 12, `fixtures found: ${dirs.length}`);
  let warnings = 0;
  for (const dir of dirs) {
    const { findings } = await new StaticChecker(dir).check();
    assert.deepEqual(findings.filter((f) => f.severity === 'error').map((f) => `${f.rule} ${f.location.file}:${f.location.line}`), [], dir);
    warnings += findings.filter((f) => f.severity === 'warning').length;
  }
  assert.ok(warnings > 10, 'the buggy fixtures are still found');
});

test('the checker holds any rule to the contract: an error from a rule is reported as a warning', async () => {
  const base = pythonPlugin();
  const loud: LanguagePlugin<unknown> = {
    ...(base as LanguagePlugin<unknown>),
    analyze(file, ws) {
      const a = base.analyze(file, ws);
      for (const f of a.findings) f.severity = 'error';
      return a;
    },
  };
  const { findings } = await new StaticChecker(join(STATIC_FIXTURES, 'python', 'missing-commit', 'buggy'), { plugins: [loud] }).check();
  assert.equal(findings.length, 3);
  assert.ok(findings.every((f) => f.severity === 'warning'));
});

test('txlens run: the trace confirms one missing commit (an error with the source fix); the others stay source warnings', async () => {
  const ws = copyFixture('missing-commit', 'buggy');
  const r = await runCli(['run', '--json', '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: ws });
  assert.equal(r.code, 1, r.stderr);
  const findings: Finding[] = JSON.parse(r.stdout).findings;
  const errors = findings.filter((f) => f.severity === 'error');
  // create_order()'s lost INSERT, seen by every test that called it: the trace's findings, at the close.
  assert.ok(errors.length >= 1);
  for (const f of errors) {
    assert.equal(`${f.rule} ${f.location.file}:${f.location.line}`, 'missing-commit shop/orders.py:14');
    assert.ok(f.test, 'a confirmed finding belongs to the test that showed it');
    assert.deepEqual(f.fixes.map((x) => x.title), ['Commit after the last write: session.commit()'], 'the source offers the fix');
  }
  // The static finding of create_order() is the same story: not repeated. The ones the run did not show stay warnings.
  const rest = findings.filter((f) => f.severity !== 'error');
  const fromSource = rest.filter((f) => !f.test);
  assert.deepEqual(fromSource.map((f) => `${f.severity} ${f.rule} ${f.location.file}:${f.location.line}`), ['warning missing-commit shop/orders.py:22', 'warning missing-commit shop/orders.py:29']);
  // A test that passed although another session missed create_order()'s row shows the defect, not its harm: a warning, same place.
  for (const f of rest.filter((x) => x.test)) assert.equal(`${f.severity} ${f.rule} ${f.location.file}:${f.location.line}`, 'warning missing-commit shop/orders.py:14');
});
