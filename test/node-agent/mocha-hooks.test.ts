// mocha hooks that fail: mocha's reporters count each as a failure, so the trace
// does too (TypeORM's suite: a before() that failed, reported by mocha as
// "1 failing" and by txlens as "0 failed"). A beforeEach ends the test it ran for
// as an error; a before() is an errored entry of its own, named as mocha names it,
// and so is an afterEach (mocha runs it after the test's 'test end').
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, tempDir } from '../support/env';
import { fixtureEnv, type Report } from './ground-truth';
import { loadModel } from '../../src/model/model';

const SPEC = `const Database = require('better-sqlite3');
describe('a failing before', () => {
  before(() => { throw new Error('before failed'); });
  it('never runs', () => {});
});
describe('a failing beforeEach', () => {
  let n = 0;
  beforeEach(() => { if (n++ === 1) throw new Error('beforeEach failed'); });
  it('runs', () => { const db = new Database(':memory:'); db.prepare('SELECT 1').get(); db.close(); });
  it('meets the hook', () => {});
  it('is never reached', () => {});
});
describe('a failing afterEach', () => {
  afterEach(() => { throw new Error('afterEach failed'); });
  it('passes before it', () => {});
});
describe('fine', () => { it('passes', () => {}); });
`;

test("failing hooks are errors in the trace, one per failure mocha reports", async () => {
  const dir = realpathSync(tempDir('mocha-hooks'));
  mkdirSync(join(dir, 'spec'));
  writeFileSync(join(dir, 'spec', 'hooks.spec.js'), SPEC);
  const mocha = [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'];
  const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...mocha], { cwd: dir, env: fixtureEnv({}) });
  const report = JSON.parse(result.stdout) as Report;
  // mocha's own count: three passing, three failing (the three hooks).
  assert.match(result.stderr, /^# pass 3$/m);
  assert.match(result.stderr, /^# fail 3$/m);
  const outcomes = loadModel(join(dir, report.trace)).tests.map((t) => `${t.outcome} ${t.id}`);
  assert.deepEqual(outcomes.sort(), [
    'error spec/hooks.spec.js > a failing afterEach > "after each" hook for "passes before it"',
    'error spec/hooks.spec.js > a failing before > "before all" hook for "never runs"',
    'error spec/hooks.spec.js > a failing beforeEach > meets the hook',
    'passed spec/hooks.spec.js > a failing afterEach > passes before it',
    'passed spec/hooks.spec.js > a failing beforeEach > runs',
    'passed spec/hooks.spec.js > fine > passes',
  ]);
  assert.equal(report.summary.statements, 1);
});
