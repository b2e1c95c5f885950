// The agent under pytest (9, with pytest-asyncio 1.5): test boundaries and
// outcomes, the test id inherited by subprocesses, faults inside the agent that
// must not change a single outcome, and an agent that is inert without a trace
// folder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { python, SQLALCHEMY_LINES } from '../support/env';
import { agentLines, copyFixture, defLine, pytestSummary, runPython, type PythonRun } from './harness';

const VERSIONS = SQLALCHEMY_LINES;
const PYTEST = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'];
const EXPECTED_SUMMARY = '1 failed, 4 passed, 1 skipped, 2 errors';

const OUTCOMES: Record<string, string> = {
  test_writes_and_commits: 'passed',
  test_fails_on_purpose: 'failed',
  test_skipped: 'skipped',
  test_setup_error: 'error',
  test_teardown_error: 'error',
  test_starts_a_child_process: 'passed',
  test_async_test_runs: 'passed',
};

function ndjsonFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...ndjsonFilesUnder(path));
    else if (entry.name.endsWith('.ndjson')) out.push(path);
  }
  return out;
}

for (const version of VERSIONS) {
  describe(`pytest plugin with SQLAlchemy ${version}`, () => {
    let workspace: string;
    let testFile: string;
    let plain: PythonRun;
    let traced: PythonRun;

    before(() => {
      workspace = copyFixture('agent-pytest');
      testFile = join(workspace, 'test_outcomes.py');
      plain = runPython(python(version), PYTEST, { cwd: workspace, mode: 'plain' });
      traced = runPython(python(version), PYTEST, { cwd: workspace });
    });

    it('leaves the outcome of the suite exactly as it is untraced', () => {
      assert.equal(pytestSummary(plain.stdout), EXPECTED_SUMMARY, plain.stdout);
      assert.equal(pytestSummary(traced.stdout), EXPECTED_SUMMARY, traced.stdout);
      assert.equal(traced.code, plain.code);
      assert.deepEqual(agentLines(traced.stderr), []);
    });

    it('brackets every test with test_start and test_end: ids, files, lines, outcomes', () => {
      const pytestProcess = traced.processes.find((p) => p.header.argv.includes('pytest'));
      assert.ok(pytestProcess, 'the pytest process wrote a trace');
      assert.equal(pytestProcess.header.test, undefined);
      const events = pytestProcess.events;
      for (const [name, outcome] of Object.entries(OUTCOMES)) {
        const id = `test_outcomes.py::${name}`;
        const starts = events.filter((e) => e.k === 'test_start' && e.id === id);
        const ends = events.filter((e) => e.k === 'test_end' && e.id === id);
        assert.equal(starts.length, 1, `one test_start for ${id}`);
        assert.equal(ends.length, 1, `one test_end for ${id}`);
        assert.equal(starts[0].name, name);
        assert.equal(starts[0].file, testFile);
        assert.equal(starts[0].line, defLine(testFile, name));
        assert.equal(ends[0].outcome, outcome, `${id} outcome`);
        assert.ok(events.indexOf(starts[0]) < events.indexOf(ends[0]));
      }
      const failed = events.find((e) => e.k === 'test_end' && e.id.endsWith('::test_fails_on_purpose'));
      assert.equal(failed?.message, 'AssertionError: names differ');
      const setupError = events.find((e) => e.k === 'test_end' && e.id.endsWith('::test_setup_error'));
      assert.equal(setupError?.message, 'RuntimeError: setup exploded');
      const teardownError = events.find((e) => e.k === 'test_end' && e.id.endsWith('::test_teardown_error'));
      assert.equal(teardownError?.message, 'RuntimeError: teardown exploded');
    });

    it("puts a test's statements between its start and end", () => {
      const events = traced.processes.find((p) => p.header.argv.includes('pytest'))!.events;
      const id = 'test_outcomes.py::test_writes_and_commits';
      const start = events.findIndex((e) => e.k === 'test_start' && e.id === id);
      const end = events.findIndex((e) => e.k === 'test_end' && e.id === id);
      const insert = events.findIndex((e) => e.k === 'stmt' && /^INSERT INTO items/.test(e.sql) && e.at?.[0] === testFile);
      assert.ok(start < insert && insert < end, 'the INSERT of the test lies inside it');
    });

    it('names the running test in the header of a process the test starts', () => {
      const children = traced.processes.filter((p) => p.header.argv.includes('-c'));
      assert.equal(children.length, 1, 'one child process traced');
      assert.equal(children[0].header.test, 'test_outcomes.py::test_starts_a_child_process');
      const pytestProcess = traced.processes.find((p) => p.header.argv.includes('pytest'))!;
      assert.equal(children[0].header.ppid, pytestProcess.header.pid);
    });

    const faults = version === 'sa20' ? ['statement', 'commit', 'test_start'] : ['statement'];
    for (const fault of faults) {
      it(`survives a fault injected at ${fault}: same outcomes, one stderr line, an agent_error`, () => {
        const run = runPython(python(version), PYTEST, { cwd: workspace, env: { TXLENS_FAULT_INJECT: fault } });
        assert.equal(pytestSummary(run.stdout), pytestSummary(plain.stdout), run.stdout);
        assert.equal(run.code, plain.code);
        const lines = agentLines(run.stderr);
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0], new RegExp(`^txlens: capture stopped in this process: RuntimeError: .*${fault}`));
        const pytestProcess = run.processes.find((p) => p.header.argv.includes('pytest'))!;
        const errors = pytestProcess.events.filter((e) => e.k === 'agent_error');
        assert.equal(errors.length, 1);
        assert.match(errors[0].message, new RegExp(fault));
        // Capture stopped: nothing after the error in that process.
        assert.equal(pytestProcess.events[pytestProcess.events.length - 1].k, 'agent_error');
      });
    }

    it('is silent and inert without TXLENS_TRACE_DIR', () => {
      const attached = runPython(python(version), PYTEST, { cwd: workspace, mode: 'attached' });
      assert.equal(pytestSummary(attached.stdout), pytestSummary(plain.stdout));
      assert.equal(attached.code, plain.code);
      assert.deepEqual(agentLines(attached.stderr), []);
      assert.equal(attached.processes.length, 0);
      assert.deepEqual(ndjsonFilesUnder(workspace), []);
      const probe = runPython(
        python(version),
        [
          '-c',
          [
            'import sys, sqlalchemy, sqlite3',
            'print(sorted(m for m in sys.modules if m.startswith("txlens")))',
            'print([type(f).__name__ for f in sys.meta_path if "txlens" in type(f).__module__])',
          ].join('\n'),
        ],
        { cwd: workspace, mode: 'attached' },
      );
      assert.equal(probe.code, 0, probe.stderr);
      assert.equal(probe.stdout, '[]\n[]\n');
      assert.equal(probe.stderr, '');
      assert.ok(!existsSync(probe.traceDir));
    });
  });
}
