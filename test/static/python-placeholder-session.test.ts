import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import { copyFixture, fixture, pytest } from './python-support';

const RULE = 'placeholder-session';

test('placeholder-session: a stub session handed out by get_db() and its class are warnings (source alone)', async () => {
  const root = fixture(RULE, 'buggy');
  const { findings } = await new StaticChecker(root).check();
  assert.deepEqual(
    findings.map((f) => `${f.rule} ${f.severity} ${relative(root, f.location.file)}:${f.location.line}`),
    [`${RULE} warning src/notes/deps.py:5`, `${RULE} warning src/notes/stub_db.py:5`],
  );
  assert.deepEqual(findings[0].related.map((r) => `${relative(root, r.file)}:${r.line}`), ['src/notes/stub_db.py:5']);
  assert.match(findings[0].message, /StubSession\(\) is handed out by get_db\(\)/);
});

test('placeholder-session: the fixed twin (real session, stub under tests/) has no findings', async () => {
  const { findings } = await new StaticChecker(fixture(RULE, 'fixed')).check();
  assert.deepEqual(findings, []);
});

test('placeholder-session: the buggy suite fails on the stub, the fixed one passes', () => {
  const buggy = pytest(copyFixture(RULE, 'buggy'));
  assert.equal(buggy.ok, false);
  assert.match(buggy.output, /1 failed/);
  const fixed = pytest(copyFixture(RULE, 'fixed'));
  assert.ok(fixed.ok, fixed.output);
});
