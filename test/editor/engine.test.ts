// The engine half the extension loads lazily: a traced run narrowed to one
// test the way the Trace CodeLens narrows it, a run cancelled from the
// progress notification, and a kept trace opened again.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyseTrace, traceTests } from '../../src/engine';
import { locateTests } from '../../src/editor/present/locate';
import { commandForSelection, splitCommand } from '../../src/editor/present/testCommand';
import { distAgentDir, python, repoRoot, tempDir } from '../support/env';

const agentDir = join(distAgentDir, '..');

test('a run narrowed to the test under a CodeLens traces that test alone and analyses it', async () => {
  const work = realpathSync(tempDir('engine-one'));
  cpSync(join(repoRoot, 'examples', 'quickstart'), work, { recursive: true });
  const file = 'tests/test_jobs.py';
  const target = locateTests(readFileSync(join(work, file), 'utf8'), 'python').find((t) => t.name === 'test_failed_job_is_reported');
  const command = commandForSelection(splitCommand(`${python('sa20')} -m pytest -q -p no:cacheprovider`), file, target);
  let output = '';
  const result = await traceTests({ command, cwd: work, agentDir, params: 'values', keepRuns: 3, output: (t) => (output += t) });
  assert.equal(result.cancelled, false);
  assert.equal(result.run.exitCode, 1, output);
  assert.match(output, /1 failed/);
  assert.deepEqual([...new Set(result.model.tests.map((t) => t.id))], ['tests/test_jobs.py::test_failed_job_is_reported']);
  assert.deepEqual(result.findings.map((f) => f.rule), ['missing-commit']);
  assert.ok(result.dir.startsWith(join(work, '.txlens', 'runs')), 'traces are kept in the workspace');
  const again = analyseTrace(result.dir);
  assert.deepEqual(again.findings, result.findings, 'Open Trace shows the same findings');
});

test('cancelling stops the test command; what was traced so far is still shown', async () => {
  const work = realpathSync(tempDir('engine-cancel'));
  mkdirSync(join(work, 'tests'));
  writeFileSync(join(work, 'pytest.ini'), '[pytest]\n');
  // The first test writes and commits, then the second waits until cancelled.
  writeFileSync(
    join(work, 'tests', 'test_slow.py'),
    [
      'import sqlite3, time',
      '',
      'def test_writes(tmp_path):',
      '    c = sqlite3.connect(str(tmp_path / "a.db"))',
      '    c.execute("CREATE TABLE t (x INTEGER)")',
      '    c.execute("INSERT INTO t VALUES (1)")',
      '    c.commit()',
      '    print("first test done", flush=True)',
      '',
      'def test_waits():',
      '    print("waiting", flush=True)',
      '    time.sleep(600)',
      '',
    ].join('\n'),
  );
  const abort = new AbortController();
  let output = '';
  const result = await traceTests({
    command: [python('sa20'), '-m', 'pytest', '-s', '-q', '-p', 'no:cacheprovider'],
    cwd: work,
    agentDir,
    params: 'values',
    keepRuns: 3,
    signal: abort.signal,
    output: (t) => {
      output += t;
      if (output.includes('waiting')) abort.abort();
    },
  });
  assert.equal(result.cancelled, true);
  assert.equal(result.run.signal, 'SIGTERM');
  const writes = result.model.tests.find((t) => t.name === 'test_writes');
  assert.equal(writes?.outcome, 'passed', 'the finished test is in the trace');
  assert.ok(result.model.statements.some((s) => s.verb === 'INSERT'), 'with its statements');
});
