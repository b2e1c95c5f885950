// The status bar item's words for each state of the extension.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusText } from '../../src/editor/present/status';

test('the status bar says what the last run found, and asks for attention on errors', () => {
  assert.equal(statusText({ kind: 'idle' }).text, '$(database) txlens');
  assert.equal(statusText({ kind: 'running', command: 'python -m pytest -q' }).tooltip, 'Tracing: python -m pytest -q');
  assert.match(statusText({ kind: 'untrusted' }).tooltip, /no test command in an untrusted workspace/);
  const done = statusText({ kind: 'done', tests: 4, failedTests: 3, findings: 3, errors: 3, cancelled: false, exitCode: 1 });
  assert.equal(done.text, '$(database) txlens: 3 findings');
  assert.equal(done.tooltip, 'Last run: 4 tests traced, 3 failed; 3 findings (3 errors). Exit status 1.');
  assert.equal(done.attention, true);
  const quiet = statusText({ kind: 'done', tests: 1, failedTests: 0, findings: 0, errors: 0, cancelled: true, exitCode: null });
  assert.equal(quiet.text, '$(database) txlens: cancelled · 0 findings');
  assert.equal(quiet.attention, false);
  assert.equal(statusText({ kind: 'failed', reason: 'command not found: pytest' }).attention, true);
});
