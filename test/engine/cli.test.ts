import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cliPath } from '../support/env';
import { trace, traceDir } from '../support/trace-builder';

const txlens = (args: string[], cwd?: string) => spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd });

test('an unknown command is a one-line error with exit 2', () => {
  const r = txlens(['frobnicate']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

test('a missing trace folder is a one-line error with exit 2', () => {
  const r = txlens(['report', join(__dirname, 'no-such-trace')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^txlens: trace folder not found: .*no-such-trace\n$/);
});

test('report --json prints exactly one document and says how many lines it skipped', () => {
  const dir = trace()
    .process(1)
    .raw('garbage')
    .connect('c1', { system: 'sqlite' }, { driver: 'pysqlite' })
    .begin('t1')
    .execute('INSERT INTO jobs VALUES (1)')
    .commit()
    .write();
  const r = txlens(['report', '--json', dir], dir);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.findings, []);
  assert.deepEqual(doc.summary, { processes: 1, sessions: 0, transactions: 1, commits: 1, rollbacks: 0, statements: 1, tests: 0 });
  assert.equal(doc.skippedLines, 1);
  const text = txlens(['report', dir], dir);
  assert.match(text.stdout, /1 line skipped \(1 not JSON\)/);
});

test('run without a command, or with an unknown option, is a usage error', () => {
  assert.equal(txlens(['run']).status, 2);
  const r = txlens(['run', '--frob', '--', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --frob/);
});

test('run reports a command that cannot start as a one-line error', () => {
  const dir = traceDir({});
  const r = txlens(['run', '--trace', join(dir, 't'), '--', 'no-such-program-txlens']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /command not found: no-such-program-txlens/);
});

test("run passes the test command's exit status through", () => {
  const dir = traceDir({});
  const r = txlens(['run', '--json', '--trace', join(dir, 't'), '--', process.execPath, '-e', 'process.exit(3)']);
  assert.equal(r.status, 3);
  assert.equal(JSON.parse(r.stdout).summary.processes, 0);
});

test('a trace without run.json: report shows paths relative to the cwd its first process recorded, from any folder', () => {
  const dir = trace()
    .process(1, { cwd: '/proj' })
    .testStart('tests/test_a.py::test_a')
    .connect('c1', { system: 'sqlite', file: '/proj/app.db' }, { driver: 'pysqlite', at: ['/proj/app/db.py', 5, 'connect'] })
    .begin('t1')
    .execute('INSERT INTO jobs VALUES (1)', { at: ['/proj/app/jobs.py', 3, 'add'] })
    .rollback('explicit', { at: ['/proj/app/jobs.py', 4, 'add'] })
    .testEnd('failed', { message: 'AssertionError' })
    .write();
  const r = txlens(['report', dir], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^tests\/test_a\.py::test_a +failed /m);
  assert.match(r.stdout, /C1 \(app\/db\.py:5\) tx1: INSERT jobs → rolled back: rollback\(\) called at app\/jobs\.py:4/);
  assert.match(r.stdout, /^txlens: 1 test \(1 failed\) · no findings · /m);
});
