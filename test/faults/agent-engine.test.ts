// create_engine and a Flask-SQLAlchemy 3 app under the agent: SQLAlchemy sorts
// create_engine's keyword arguments by the parameters it reads from the code of
// Engine.__init__, which the agent wraps; Flask-SQLAlchemy 3 always passes
// `echo`. Every outcome must be the same traced as untraced.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { python, type PythonEnvName } from '../support/env';
import { agentLines, copyFixture, pytestSummary, runPython } from '../agent/harness';

const VERSIONS: PythonEnvName[] = ['sa14', 'sa20'];

for (const version of VERSIONS) {
  describe(`create_engine under the agent (${version})`, () => {
    it('accepts every keyword argument this SQLAlchemy accepts, with the same outcome traced as untraced', () => {
      const workspace = copyFixture('agent-faults');
      const url = `sqlite:///${join(workspace, 'kwargs.db')}`;
      const args = [join(workspace, 'engine_kwargs.py'), url];
      const plain = runPython(python(version), args, { cwd: workspace, mode: 'plain' });
      const traced = runPython(python(version), args, { cwd: workspace });
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(traced.code, 0, traced.stderr);
      assert.deepEqual(agentLines(traced.stderr), []);
      const untracedOutcome = JSON.parse(plain.stdout);
      const tracedOutcome = JSON.parse(traced.stdout);
      assert.deepEqual(tracedOutcome, untracedOutcome);
      // The list is SQLAlchemy's own, so it is long; the engine's own keywords are all in it and all work.
      const keywords = Object.keys(untracedOutcome.outcomes);
      assert.ok(keywords.length >= 25, `only ${keywords.length} keywords derived`);
      for (const name of ['echo', 'echo_pool', 'logging_name', 'pool_logging_name', 'hide_parameters', 'query_cache_size', 'execution_options', 'future', 'isolation_level', 'pool_size']) {
        assert.equal(tracedOutcome.outcomes[name], 'ok', name);
      }
      for (const name of untracedOutcome.engine_keywords as string[]) assert.equal(tracedOutcome.outcomes[name], 'ok', name);
      // The traced run did record the probes' statements (capture was on, not bypassed).
      const worked = keywords.filter((k) => untracedOutcome.outcomes[k] === 'ok').length;
      assert.ok(traced.events.filter((e) => e.k === 'stmt' && /select 1/i.test(e.sql)).length >= worked);
    });

    it("a Flask-SQLAlchemy 3 app's suite passes traced exactly as untraced", () => {
      const workspace = copyFixture('flask-sqlalchemy-app');
      const args = ['-m', 'pytest', '-q', '-p', 'no:randomly'];
      const plain = runPython(python(version), args, { cwd: workspace, mode: 'plain' });
      const traced = runPython(python(version), args, { cwd: workspace });
      assert.equal(plain.code, 0, plain.stdout + plain.stderr);
      assert.equal(pytestSummary(plain.stdout), '4 passed');
      assert.equal(traced.code, 0, traced.stdout + traced.stderr);
      assert.equal(pytestSummary(traced.stdout), pytestSummary(plain.stdout));
      assert.deepEqual(agentLines(traced.stderr), []);
      const ends = traced.events.filter((e) => e.k === 'test_end');
      assert.equal(ends.length, 4);
      assert.ok(ends.every((e) => e.outcome === 'passed'));
      assert.ok(traced.events.some((e) => e.k === 'stmt' && /INSERT INTO note/i.test(e.sql)));
    });
  });
}
