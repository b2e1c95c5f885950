// missing-commit on FastAPI endpoints: an injected session that is never committed is an info,
// unless the dependency that provides it commits (yield inside `with ...begin()`, or a commit
// after the yield), in the same module or another one.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import { tempDir } from '../support/env';
import { fixturesDir } from './python-support';

const FIXTURE = join(fixturesDir, 'injected-session');

test('injected session: only the endpoint whose dependency does not commit gets the info', async () => {
  const { findings, notes } = await new StaticChecker(FIXTURE).check();
  assert.deepEqual(notes, []);
  assert.deepEqual(
    findings.map((f) => `${f.severity} ${f.rule} ${relative(FIXTURE, f.location.file)}:${f.location.line}`),
    ['info missing-commit app/api.py:17'],
  );
  assert.match(findings[0].message, /create_plain\(\) writes through the injected session db/);
});

test('injected session: the info goes when its dependency starts committing (update re-links the endpoint)', async () => {
  const ws = join(tempDir('static-injected'), 'ws');
  cpSync(FIXTURE, ws, { recursive: true });
  const checker = new StaticChecker(ws);
  await checker.check();
  // get_db is redefined to commit (the later definition wins): the endpoint is then fine.
  appendFileSync(join(ws, 'app/deps.py'), '\n\ndef get_db():\n    with SessionLocal.begin() as session:\n        yield session\n');
  const up = await checker.update(join(ws, 'app/deps.py'));
  assert.ok(up.affected.includes(join(ws, 'app/api.py')), 'the endpoint module is re-linked');
  assert.deepEqual(up.findings.filter((f) => f.rule === 'missing-commit'), []);
});
