import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDir, copyFixture, summary } from './ts-support';

test('placeholder-session: a fake session exported from src/db.ts and a test fake imported by a job', async (t) => {
  const fx = copyFixture('placeholder-session', 'buggy');
  t.after(fx.dispose);
  const { findings, notes } = await checkDir(fx.dir);
  assert.deepEqual(notes, []);
  assert.deepEqual(summary(findings, fx.dir), ['warning placeholder-session src/db.ts:12', 'warning placeholder-session src/jobs/cleanup.js:1']);
  const session = findings.find((f) => f.location.file.endsWith('db.ts'))!;
  assert.deepEqual(session.related.map((r) => `${r.file.slice(fx.dir.length + 1)}:${r.line}`), ['src/services/audit.ts:1']);
  const job = findings.find((f) => f.location.file.endsWith('cleanup.js'))!;
  assert.match(job.message, /defined in test code/);
});

test('placeholder-session fixed twin: fakes only under test/, an in-memory cache is not a session', async (t) => {
  const fx = copyFixture('placeholder-session', 'fixed');
  t.after(fx.dispose);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
});
