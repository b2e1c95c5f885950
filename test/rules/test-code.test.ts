// Which files the rules take for test code (isTestCode): pytest's names, the JavaScript and
// TypeScript runners' names (*.test.*, *.spec.*), and test folders inside the project.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTestCode } from '../../src/analysis/rules/util';
import type { ModelRun } from '../../src/model/model';

// isTestCode reads the run's working directory alone.
const model = { run: { cwd: '/proj' } } as unknown as ModelRun;
const judged = (file: string): boolean => isTestCode(model, [file, 1, 'f']);

test('pytest test files and conftest are test code', () => {
  for (const file of ['/proj/tests/conftest.py', '/proj/app/test_orders.py', '/proj/app/orders_test.py']) assert.ok(judged(file), file);
});

test('JavaScript and TypeScript test files are test code, wherever they sit in the project', () => {
  for (const file of ['/proj/src/orders.test.ts', '/proj/vitest/orders.test.ts', '/proj/jest/notes.test.js', '/proj/src/notes.spec.mjs', '/proj/src/view.test.tsx', '/proj/lib/a.spec.cjs', '/proj/e2e/flow.spec.mts']) {
    assert.ok(judged(file), file);
  }
});

test('files under test, tests and __tests__ folders are test code', () => {
  for (const file of ['/proj/test/helpers.js', '/proj/tests/factories.py', '/proj/src/__tests__/orders.ts']) assert.ok(judged(file), file);
});

test("the application's files are not, test-like names in them included", () => {
  for (const file of ['/proj/app/orders.ts', '/proj/src/testing.ts', '/proj/src/contest.js', '/proj/src/test.ts', '/proj/app/latest.test.json', '/proj/src/spec.js']) {
    assert.ok(!judged(file), file);
  }
});

test('a test folder above the project does not make its files test code', () => {
  const nested = { run: { cwd: '/home/me/test/proj' } } as unknown as ModelRun;
  assert.ok(!isTestCode(nested, ['/home/me/test/proj/app/orders.js', 1, 'f']));
  assert.ok(!isTestCode(model, ['/elsewhere/test/orders.js', 1, 'f']));
});
