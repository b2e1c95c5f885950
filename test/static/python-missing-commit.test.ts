import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import { runCli, tempDir } from '../support/env';
import { copyFixture, fixture, pytest } from './python-support';

const RULE = 'missing-commit';

test('missing-commit: writes that can leave without commit are warnings (source alone) at the last write; helpers, begin() blocks and tests are not', async () => {
  const root = fixture(RULE, 'buggy');
  const { findings } = await new StaticChecker(root).check();
  assert.deepEqual(
    findings.map((f) => `${f.rule} ${f.severity} ${relative(root, f.location.file)}:${f.location.line}`),
    [`${RULE} warning shop/orders.py:10`, `${RULE} warning shop/orders.py:22`, `${RULE} warning shop/orders.py:29`],
  );
  const [create, cancel, paid] = findings;
  assert.match(create.message, /create_order\(\)/);
  assert.deepEqual(cancel.related.map((r) => r.line), [23]);
  for (const f of findings) assert.equal(f.fixes.filter((x) => x.preferred).length, 1);
  assert.equal(create.fixes[0].edits[0].newText, '\n        session.commit()');
  assert.equal(paid.fixes[0].edits[0].newText, '\n        await session.commit()');
});

test('missing-commit: the fixed twin has no findings', async () => {
  const { findings } = await new StaticChecker(fixture(RULE, 'fixed')).check();
  assert.deepEqual(findings, []);
});

test('missing-commit: the buggy suite fails, txlens check --fix makes it pass', async () => {
  const ws = copyFixture(RULE, 'buggy');
  const before = pytest(ws);
  assert.equal(before.ok, false);
  assert.match(before.output, /3 failed, 3 passed/);
  const check = await runCli(['check', '--json', '--fail-on', 'warning'], { cwd: ws });
  assert.equal(check.code, 1, 'a finding at the --fail-on level sets exit status 1');
  assert.equal(JSON.parse(check.stdout).findings.length, 3);
  // Source alone shows no consequence: warnings only, so the default (--fail-on error) passes.
  assert.equal((await runCli(['check'], { cwd: ws })).code, 0);
  const fixed = await runCli(['check', '--fix'], { cwd: ws });
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  assert.equal(fixed.stdout.match(/^fixed missing-commit/gm)?.length, 3);
  assert.match(readFileSync(join(ws, 'shop/orders.py'), 'utf8'), /order\.status = "paid"\n {8}await session\.commit\(\)/);
  const after = pytest(ws);
  assert.ok(after.ok, after.output);
  assert.match(after.output, /6 passed/);
});

test('missing-commit: the fix commits after a flush that follows the last write, not before it', async () => {
  const ws = join(tempDir('static-missing-commit-flush'), 'ws');
  mkdirSync(join(ws, 'jobs'), { recursive: true });
  writeFileSync(join(ws, 'jobs', '__init__.py'), '');
  writeFileSync(
    join(ws, 'jobs', 'worker.py'),
    [
      'from jobs.db import SessionLocal',
      '',
      '',
      'def mark_failed(job_id):',
      '    session = SessionLocal()',
      '    job = session.get(Job, job_id)',
      '    job.state = "FAILED"',
      '    session.flush()',
      '    session.close()',
      '',
    ].join('\n'),
  );
  const { findings } = await new StaticChecker(ws).check();
  assert.deepEqual(findings.map((f) => `${f.rule} ${f.location.line}`), [`${RULE} 7`]);
  const [edit] = findings[0].fixes[0].edits;
  assert.equal(edit.startLine, 8, 'inserted at the end of the flush line');
  assert.equal(edit.newText, '\n    session.commit()');
});
