// Finding test functions in source text, for the Trace CodeLens and the
// Testing view: pytest by def/class, the JS runners by describe/it/test calls.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { isTestFileName, languageOf, locateTests, TEST_FILE_GLOB } from '../../src/editor/present/locate';
import { repoRoot, tempDir } from '../support/env';

const summary = (text: string, lang: 'python' | 'js') => locateTests(text, lang).map((t) => `${t.kind} ${t.path.join(' › ')} @${t.line}-${t.endLine}`);

test('pytest: module-level tests, Test classes with their methods, async and decorated tests', () => {
  const src = [
    'import pytest',                       // 1
    '',                                    // 2
    'def helper():',                       // 3
    '    def test_inner(): pass',          // 4  nested in a helper: not collected
    '',                                    // 5
    '@pytest.mark.parametrize("x", [1, 2])',// 6
    'def test_param(x):',                  // 7
    '    assert x',                        // 8
    '',                                    // 9
    'class TestJobs:',                     // 10
    '    """Docs mentioning def test_fake():',  // 11
    '    still docs"""',                   // 12
    '    async def test_async(self):',     // 13
    '        await thing()',               // 14
    '',                                    // 15
    '    def not_a_test(self):',           // 16
    '        pass',                        // 17
    '',                                    // 18
    'class Helper:',                       // 19
    '    def test_in_helper(self): pass',  // 20 not a Test* class: not collected
    '',                                    // 21
    'def test_last():',                    // 22
    '    x = (',                           // 23
    '1)',                                  // 24 continuation line at column 0
    '    assert x',                        // 25
  ].join('\n');
  assert.deepEqual(summary(src, 'python'), [
    'test test_param @7-8',
    'suite TestJobs @10-17',
    'test TestJobs › test_async @13-14',
    'test test_last @22-25',
  ]);
});

test('pytest: the quickstart example file', () => {
  const text = readFileSync(join(repoRoot, 'examples/quickstart/tests/test_jobs.py'), 'utf8');
  assert.deepEqual(
    locateTests(text, 'python').map((t) => t.name),
    ['test_create_job', 'test_worker_runs_job', 'test_failed_job_is_reported', 'test_listed_jobs_include_new_one'],
  );
});

test('jest/vitest/mocha: nested describe blocks, modifiers, and calls hidden in strings or comments', () => {
  const src = [
    "import { describe, it, expect } from 'vitest';",   // 1
    "describe('jobs', () => {",                          // 2
    "  it('creates a job', async () => {",               // 3
    "    const s = \"it('not a test', () => {})\";",      // 4
    "    // test('commented out', () => {})",            // 5
    '  });',                                             // 6
    "  describe.each([1, 2])('batch %i', (n) => {",     // 7  title is not the first argument: skipped
    "    test.only(`runs ${'x'} fast`, () => {});",     // 8
    '  });',                                             // 9
    "  it.skip('later', () => {});",                     // 10
    '});',                                               // 11
    "/* describe('in a block comment', () => {}) */",   // 12
    "suite('mocha tdd', function () {",                  // 13
    "  specify('works', function () {});",               // 14
    '});',                                               // 15
    "foo.test('member call', () => {});",               // 16 a method named test: not a test
  ].join('\n');
  assert.deepEqual(summary(src, 'js'), [
    'suite jobs @2-11',
    'test jobs › creates a job @3-6',
    'test jobs › runs … fast @8-8',
    'test jobs › later @10-10',
    'suite mocha tdd @13-15',
    'test mocha tdd › works @14-14',
  ]);
});

test('node:test subtests through the context object are left to their parent', () => {
  const src = ["import test from 'node:test';", "test('outer', async (t) => {", "  await t.test('inner', () => {});", '});'].join('\n');
  assert.deepEqual(summary(src, 'js'), ['test outer @2-4']);
});

test('which files are test files, and their language', () => {
  for (const f of ['tests/test_api.py', 'pkg/api_test.py', 'src/a.test.ts', 'web/b.spec.jsx', 'test/c.mjs', 'src/__tests__/d.js']) assert.ok(isTestFileName(f), f);
  for (const f of ['app/models.py', 'src/index.ts', 'conftest.py', 'testing.py']) assert.ok(!isTestFileName(f), f);
  assert.equal(languageOf('python'), 'python');
  assert.equal(languageOf('typescriptreact'), 'js');
  assert.equal(languageOf('a/b.cts'), 'js');
  assert.equal(languageOf('markdown'), undefined);
});

test('the Testing view\'s test-file glob parses in ripgrep (no nested alternates) and finds the test files the locator reads', (t) => {
  assert.equal(TEST_FILE_GLOB.split('{').length, 2, `one brace group: ${TEST_FILE_GLOB}`);
  const root = tempDir('glob');
  const files = [
    'tests/test_jobs.py', 'pkg/jobs_test.py', 'test/notes.test.ts', 'src/a.spec.tsx', 'esm/b.test.mjs', 'c.spec.cjs', 'x.test.cts',
    'app/notes.ts', 'tests/conftest.py', 'README.md', 'test/helpers.js',
  ];
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  const expected = files.slice(0, 7).sort();
  for (const f of expected) assert.ok(isTestFileName(f), f);
  // VS Code's findFiles runs ripgrep; the same glob through the same tool.
  const rg = spawnSync('rg', ['--files', '--glob', TEST_FILE_GLOB], { cwd: root, encoding: 'utf8' });
  if (rg.error) {
    // `npm test` installs ripgrep before this file runs; under CI a missing one is a failure, never a silent skip.
    if (process.env.CI) throw new Error(`ripgrep is not installed here: ${rg.error.message}`);
    t.skip(`ripgrep is not installed here: ${rg.error.message}`);
    return;
  }
  assert.equal(rg.status, 0, rg.stderr);
  assert.deepEqual(rg.stdout.trim().split('\n').sort(), expected);
});
