import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyEdits, checkDir, copyFixture, preferredFix, summary } from './ts-support';
import { tempDir } from '../support/env';

function nodeTest(dir: string): { ok: boolean; out: string } {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.NODE_OPTIONS;
  // Inside `node --test`, a nested runner would report to us instead of exiting with its status.
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test'], { cwd: dir, env, encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

test('CommonJS: a node:test mock.method misses destructured and load-time copies of db.query', async (t) => {
  const fx = copyFixture('stale-import-patch', 'buggy');
  t.after(fx.dispose);
  const { findings, notes } = await checkDir(fx.dir);
  assert.deepEqual(notes, []);
  assert.deepEqual(summary(findings, fx.dir), [
    'warning stale-import-patch test/orders.test.js:16',
    'warning stale-import-patch test/orders.test.js:22',
    'warning stale-import-patch test/orders.test.js:9',
  ]);
  const first = findings.find((f) => f.location.line === 9)!;
  assert.deepEqual(first.related.map((r) => `${r.file.slice(fx.dir.length + 1)}:${r.line}`), ['src/orders.js:1', 'src/reports.js:4']);
  assert.match(first.message, /cannot patch another module's local binding/);
  assert.equal(first.fixes.filter((f) => f.preferred).length, 1);

  // The fixture's own tests fail for real before the fix...
  assert.equal(nodeTest(fx.dir).ok, false);
  applyEdits(preferredFix(first).edits);
  const orders = readFileSync(join(fx.dir, 'src/orders.js'), 'utf8');
  assert.match(orders, /^const db = require\('\.\/db'\);/);
  assert.match(orders, /await db\.query\('SELECT/);
  assert.doesNotMatch(readFileSync(join(fx.dir, 'src/reports.js'), 'utf8'), /const run =/);
  // ...and pass after it, and the checker has nothing left to say.
  const after = nodeTest(fx.dir);
  assert.ok(after.ok, after.out);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
});

test('CommonJS: each single-module fix works on its own', async (t) => {
  const fx = copyFixture('stale-import-patch', 'buggy');
  t.after(fx.dispose);
  const { findings } = await checkDir(fx.dir);
  const perModule = findings[0].fixes.filter((f) => !f.preferred);
  assert.equal(perModule.length, 2);
  for (const fix of perModule) applyEdits(fix.edits);
  const after = nodeTest(fx.dir);
  assert.ok(after.ok, after.out);
});

test('CommonJS fixed twin: no findings, tests pass', async (t) => {
  const fx = copyFixture('stale-import-patch', 'fixed');
  t.after(fx.dispose);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
  assert.ok(nodeTest(fx.dir).ok);
});

test('TypeScript workspace: tsconfig paths, workspace package, jest/vi spies, native ESM namespaces', async (t) => {
  const fx = copyFixture('stale-import-patch', 'ts-buggy');
  t.after(fx.dispose);
  const { findings, notes } = await checkDir(fx.dir);
  assert.deepEqual(notes, []);
  assert.deepEqual(summary(findings, fx.dir), [
    'warning stale-import-patch packages/api/test/users.test.ts:10',
    'warning stale-import-patch packages/api/test/users.test.ts:15',
    'warning stale-import-patch packages/api/test/users.test.ts:20',
    'warning stale-import-patch packages/jobs/test/worker.test.js:7',
    'warning stale-import-patch packages/web/test/page.test.ts:13',
    'warning stale-import-patch packages/web/test/page.test.ts:8',
  ]);
  const byLine = (file: string, line: number) => findings.find((f) => f.location.file.endsWith(file) && f.location.line === line)!;
  // '@app/db' through tsconfig paths, '@acme/core' through the workspace package (dist/ → src/).
  assert.deepEqual(byLine('users.test.ts', 10).related.map((r) => r.line), [5]);
  assert.deepEqual(byLine('users.test.ts', 15).related.map((r) => r.line), [6]);
  // `import { query } from '../db'` compiled to CommonJS is a live read: accounts.ts is never blamed.
  assert.ok(findings.every((f) => f.related.every((r) => !r.file.endsWith('accounts.ts'))));
  // The alias fix reads the live import instead of the copy.
  applyEdits(preferredFix(byLine('users.test.ts', 15)).edits);
  assert.match(readFileSync(join(fx.dir, 'packages/api/src/services/users.ts'), 'utf8'), /await core\.query\('SELECT count/);
  // The native ESM node:test case really throws.
  const jobs = nodeTest(join(fx.dir, 'packages/jobs'));
  assert.equal(jobs.ok, false);
  assert.match(jobs.out, /TypeError/);
});

test('TypeScript fixed twin: no findings; its node:test package passes', async (t) => {
  const fx = copyFixture('stale-import-patch', 'ts-fixed');
  t.after(fx.dispose);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
  assert.ok(nodeTest(join(fx.dir, 'packages/jobs')).ok);
});

test('re-checking one changed file relinks the test that patches it', async (t) => {
  const fx = copyFixture('stale-import-patch', 'fixed');
  t.after(fx.dispose);
  const { checker, findings } = await checkDir(fx.dir);
  assert.deepEqual(findings, []);
  const service = join(fx.dir, 'src/orders.js');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(service, readFileSync(service, 'utf8').replace("const db = require('./db');", "const db = require('./db');\nconst { query } = db;").replace(/db\.query\(/g, 'query('));
  const r = await checker.update(service);
  assert.ok(r.affected.some((p) => p.endsWith('orders.test.js')));
  // Every patch of db.query in the workspace now misses orders.js (the reports test's too).
  assert.deepEqual(summary(r.findings, fx.dir), [
    'warning stale-import-patch test/orders.test.js:16',
    'warning stale-import-patch test/orders.test.js:22',
    'warning stale-import-patch test/orders.test.js:9',
  ]);
});

test("a module's own copy that it assigns again itself is not stale: node-postgres's test helper switches Client and its copy together", async () => {
  const dir = tempDir('ts-stale-own-copy');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'own-copy', version: '1.0.0' }));
  mkdirSync(join(dir, 'test', 'integration'), { recursive: true });
  writeFileSync(join(dir, 'lib.js'), 'exports.Client = class Client {};\nexports.Native = class Native {};\n');
  writeFileSync(join(dir, 'test', 'test-helper.js'), "const { Client } = require('../lib');\nmodule.exports = { Client, native: process.argv.includes('native') };\n");
  writeFileSync(
    join(dir, 'test', 'integration', 'test-helper.js'),
    [
      "const helper = require('../test-helper');",
      'let { Client } = helper;',
      'if (helper.native) {',
      "  Client = require('../../lib').Native;",
      '  helper.Client = Client;',
      '}',
      'helper.client = function () {',
      '  return new Client();',
      '};',
      'module.exports = helper;',
      '',
    ].join('\n'),
  );
  assert.deepEqual((await checkDir(dir)).findings, []);
  // The same helper without its own assignment: its copy keeps the class it loaded with.
  const stale = readFileSync(join(dir, 'test', 'integration', 'test-helper.js'), 'utf8').replace("  Client = require('../../lib').Native;\n  helper.Client = Client;", "  helper.Client = require('../../lib').Native;");
  writeFileSync(join(dir, 'test', 'integration', 'test-helper.js'), stale);
  assert.deepEqual(summary((await checkDir(dir)).findings, dir), ['warning stale-import-patch test/integration/test-helper.js:4']);
});
