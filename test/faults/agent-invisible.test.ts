// What a test can see of its own process must not change under the agent: the
// SIGTERM handler, the thread count, os.write calls, the sqlite3 classes, its
// project's sitecustomize, its tracebacks, and an isolated interpreter
// (python -I / -E), where the agent cannot load at all and pytest must still run.
import assert from 'node:assert/strict';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { distAgentDir, python, type PythonEnvName } from '../support/env';
import { agentLines, copyFixture, pytestSummary, runPython, type PythonRun } from '../agent/harness';

const VERSIONS: PythonEnvName[] = ['sa14', 'sa20'];

// The plugin reaches pytest through the agent's `pytest11` entry point, which
// only an interpreter that can import the agent sees; a PYTEST_PLUGINS entry
// would make an isolated interpreter fail. The traced runs here get no
// PYTEST_PLUGINS unless a test asks for it (`tracedEnv`).
function both(version: PythonEnvName, args: string[], opts: { site?: boolean; tracedEnv?: NodeJS.ProcessEnv } = {}) {
  const workspace = copyFixture('agent-invisible');
  const site = opts.site ? join(workspace, 'site') : undefined;
  const plain = runPython(python(version), args, {
    cwd: workspace,
    mode: 'plain',
    env: site ? { PYTHONPATH: site } : {},
  });
  const traced = runPython(python(version), args, {
    cwd: workspace,
    env: { PYTHONPATH: site ? `${distAgentDir}${delimiter}${site}` : distAgentDir, PYTEST_PLUGINS: '', ...opts.tracedEnv },
  });
  return { plain, traced, workspace };
}

function sameOutcome(plain: PythonRun, traced: PythonRun): void {
  assert.equal(traced.code, plain.code, `untraced:\n${plain.stdout}\ntraced:\n${traced.stdout}\n${traced.stderr}`);
  assert.equal(pytestSummary(traced.stdout), pytestSummary(plain.stdout));
}

for (const version of VERSIONS) {
  describe(`the agent is invisible to the code under test (${version})`, () => {
    it('signal handler, threads, os.write, sqlite3 classes and sitecustomize look the same traced', () => {
      const { plain, traced } = both(version, ['-m', 'pytest', '-q', '-rA', 'test_invisible.py'], { site: true });
      assert.equal(plain.code, 0, plain.stdout + plain.stderr);
      assert.equal(pytestSummary(plain.stdout), '6 passed');
      sameOutcome(plain, traced);
      assert.deepEqual(agentLines(traced.stderr), []);
      // Capture was on: the statements of the tests are in the trace.
      assert.ok(traced.events.filter((e) => e.k === 'stmt').length >= 5000);
      assert.equal(traced.events.filter((e) => e.k === 'test_end').length, 6);
    });

    it('a failing test shows no agent frame in the traceback pytest prints', () => {
      const { plain, traced } = both(version, ['-m', 'pytest', '-q', '--tb=long', 'test_traceback.py']);
      assert.equal(pytestSummary(plain.stdout), '1 failed');
      sameOutcome(plain, traced);
      assert.match(traced.stdout, /no such table: no_such_table/);
      assert.doesNotMatch(traced.stdout, /txlens_agent/);
      assert.ok(traced.events.some((e) => e.k === 'stmt' && e.err));
    });

    for (const flag of ['-I', '-E']) {
      it(`python ${flag} -m pytest runs exactly as untraced (the agent cannot load there, and must not break it)`, () => {
        const args = [flag, '-m', 'pytest', '-q', 'test_invisible.py', '-k', 'not sitecustomize'];
        // The environment txlens gives a traced command: the agent on PYTHONPATH, its plugin found through its entry point.
        const { plain, traced } = both(version, args);
        assert.equal(plain.code, 0, plain.stdout + plain.stderr);
        sameOutcome(plain, traced);
        assert.equal(traced.processes.length, 0, 'an isolated interpreter cannot have loaded the agent');
      });
    }

    it('the plugin declared twice (entry point and PYTEST_PLUGINS) is loaded once', () => {
      const { plain, traced } = both(version, ['-m', 'pytest', '-q', 'test_invisible.py', '-k', 'not sitecustomize'], {
        tracedEnv: { PYTEST_PLUGINS: 'txlens_agent.pytest_plugin' },
      });
      sameOutcome(plain, traced);
      assert.equal(traced.events.filter((e) => e.k === 'test_end').length, 5);
    });
  });
}
