import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { typescript, parse, syntaxErrors } from '../../src/static/typescript/ts';
import { applyEdits, checkDir, copyFixture, preferredFix, summary } from './ts-support';

test('missing-commit: pg, TypeORM, Knex and Sequelize paths that leave without COMMIT', async (t) => {
  const fx = copyFixture('missing-commit', 'buggy');
  t.after(fx.dispose);
  const { findings, notes } = await checkDir(fx.dir);
  assert.deepEqual(notes, []);
  assert.deepEqual(summary(findings, fx.dir), [
    'warning missing-commit src/orders.ts:11', // queryRunner.manager.save, no commitTransaction
    'warning missing-commit src/orders.ts:20', // unmanaged knex trx
    'warning missing-commit src/orders.ts:26', // unmanaged sequelize t, return
    'warning missing-commit src/orders.ts:52', // begins always, commits only under a flag
    'warning missing-commit src/transfers.js:29', // early return after a write
    'warning missing-commit src/transfers.js:42', // loop of INSERTs, no COMMIT at the end
    'warning missing-commit src/transfers.js:45', // throw with no ROLLBACK
    'warning missing-commit src/transfers.js:9', // return after two UPDATEs
  ]);
  // Managed transactions (callbacks, lines 29-46) are never findings.
  assert.ok(findings.every((f) => f.location.line < 29 || f.location.line > 46 || !f.location.file.endsWith('orders.ts')));
  for (const f of findings) assert.equal(f.fixes.filter((x) => x.preferred).length, 1, `${f.location.line}`);

  // Apply every preferred fix at once (all computed on this version): the code parses, and nothing is left to commit.
  applyEdits(findings.flatMap((f) => preferredFix(f).edits));
  const ts = typescript();
  for (const name of ['src/transfers.js', 'src/orders.ts']) {
    const path = join(fx.dir, name);
    assert.deepEqual(syntaxErrors(parse(ts, path, readFileSync(path, 'utf8'))), [], name);
  }
  const transfers = readFileSync(join(fx.dir, 'src/transfers.js'), 'utf8');
  // After the loop, not inside it, at the loop's indentation.
  assert.match(transfers, /\n {2}}\n {2}await client\.query\('COMMIT'\);\n {2}if \(rows\.some/);
  assert.match(transfers, /await client\.query\('COMMIT'\);\n {4}return true;/);
  assert.match(readFileSync(join(fx.dir, 'src/orders.ts'), 'utf8'), /save\(order\);\n {4}await queryRunner\.commitTransaction\(\);/);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
});

test('missing-commit fixed twin: committed, rolled back or managed everywhere', async (t) => {
  const fx = copyFixture('missing-commit', 'fixed');
  t.after(fx.dispose);
  assert.deepEqual((await checkDir(fx.dir)).findings, []);
});

test('missing-commit: the plugin survives odd syntax and reports it as a skipped file', async (t) => {
  const fx = copyFixture('missing-commit', 'fixed');
  t.after(fx.dispose);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(fx.dir, 'src/broken.ts'), 'export async function f( {\n  await client.query("BEGIN"\n');
  writeFileSync(join(fx.dir, 'src/weird.js'), 'label: for (;;) { switch (x) { case 1: break label; default: continue label; } }\nasync function* g() { yield* await client.query`BEGIN`; }\n');
  const { findings, notes } = await checkDir(fx.dir);
  assert.deepEqual(findings, []);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^src\/broken\.ts: skipped, syntax error at line \d+/);
});
