// Drizzle's query builders under the agent, as Drizzle's own integration suite
// uses them (integration-tests/tests/{pg,sqlite}/*-common.ts): a select awaited
// with .catch() or .finally(), and builders awaited rather than run (.all(),
// .run()), whose SQL Drizzle sends from the microtask that awaits them, where no
// frame is the app's. Each must behave as untraced, and each statement must name
// the line that built it. Real drizzle-orm on better-sqlite3 and on node-postgres,
// in both of its builds (require: CommonJS; import: ES modules, hooked by esm.ts).
// Traced untouched, Drizzle's better-sqlite3 suite had 58 statements and its
// node-postgres suite 5 with no line: awaited selects, deletes and $count.
import assert from 'node:assert/strict';
import { realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createDatabase, repoRoot, tempDir } from '../support/env';
import { plainNodeEnv, runNode, runTraced, type NodeRun } from './node-run';

interface Line {
  k: string;
  sql?: string;
  at?: [string, number, string];
}

type Run = NodeRun<Line>;

/** The script run untraced, then traced; both runs, after checking that they print the same. */
async function bothWays(dir: string, script: string, extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  const untraced = await runNode<Line>(dir, [script], plainNodeEnv(extra));
  assert.equal(untraced.code, 0, untraced.stderr);
  const traced = await runTraced<Line>(dir, [script], extra);
  assert.equal(traced.code, 0, traced.stderr);
  assert.equal(traced.stdout, untraced.stdout);
  assert.doesNotMatch(traced.stderr, /txlens:/);
  return traced;
}

/** Each statement's first word and line, the table's CREATE and the seed apart. */
function sentAt(traced: Run, script: string): Array<[string, number | undefined]> {
  return traced.lines
    .filter((l) => l.k === 'stmt' && !/^(create|insert|drop)/i.test(l.sql ?? ''))
    .map((l) => [(l.sql ?? '').split(' ')[0].toLowerCase(), l.at?.[0] === script ? l.at[1] : undefined]);
}

// Line numbers matter: the assertions name them.
const SQLITE_BODY = [
  "const notes = sqliteTable('notes', { id: integer('id').primaryKey(), text: text('text') });",
  "const db = drizzle(new Database(':memory:'));",
  "db.run(sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)`);",
  "db.insert(notes).values([{ text: 'a' }, { text: 'b' }]).run();",
  "const main = async () => {",
  "  const caught = await db.select().from(notes).catch(() => 'failed');", // 11
  '  let finished = false;',
  '  const rows = await db.select().from(notes).finally(() => (finished = true));', // 13
  "  await db.delete(notes).where(eq(notes.text, 'a'));", // 14
  '  const n = await db.$count(notes);', // 15
  '  const united = await union(db.select().from(notes), db.select().from(notes));', // 16
  '  console.log(caught.length, finished, rows.length, n, united.length);',
  '};',
  'main();',
  '',
];

const SQLITE_ESM = [
  "import Database from 'better-sqlite3';",
  "import { eq, sql } from 'drizzle-orm';",
  "import { drizzle } from 'drizzle-orm/better-sqlite3';",
  "import { integer, sqliteTable, text, union } from 'drizzle-orm/sqlite-core';",
  '',
  ...SQLITE_BODY,
].join('\n');

const SQLITE_CJS = [
  "const Database = require('better-sqlite3');",
  "const { eq, sql } = require('drizzle-orm');",
  "const { drizzle } = require('drizzle-orm/better-sqlite3');",
  "const { integer, sqliteTable, text, union } = require('drizzle-orm/sqlite-core');",
  '',
  ...SQLITE_BODY,
].join('\n');

const PG_ESM = [
  "import pg from 'pg';",
  "import { eq, sql } from 'drizzle-orm';",
  "import { drizzle } from 'drizzle-orm/node-postgres';",
  "import { pgTable, serial, text } from 'drizzle-orm/pg-core';",
  "const notes = pgTable('notes', { id: serial('id').primaryKey(), text: text('text') });",
  'const client = new pg.Client(process.env.DATABASE_URL);',
  'await client.connect();',
  'const db = drizzle(client);',
  // Run twice on one database: untraced, then traced.
  'await db.execute(sql`DROP TABLE IF EXISTS notes`); await db.execute(sql`CREATE TABLE notes (id serial PRIMARY KEY, text text)`);',
  "await db.insert(notes).values([{ text: 'a' }, { text: 'b' }]);",
  "const caught = await db.select().from(notes).catch(() => 'failed');", // 11
  'let finished = false;',
  'const rows = await db.select().from(notes).finally(() => (finished = true));', // 13
  "await db.delete(notes).where(eq(notes.text, 'a'));", // 14
  'const n = await db.$count(notes);', // 15
  'console.log(caught.length, finished, rows.length, n);',
  'await client.end();',
  '',
].join('\n');

function project(label: string, file: string, source: string): string {
  const dir = realpathSync(tempDir(`drizzle-builders-${label}`));
  writeFileSync(join(dir, file), source);
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

describe("Drizzle's query builders", () => {
  for (const [build, file, source] of [
    ['ES module', 'app.mjs', SQLITE_ESM],
    ['CommonJS', 'app.cjs', SQLITE_CJS],
  ] as const) {
    test(`on better-sqlite3 (${build} build): a select keeps catch and finally, and builders awaited name the line that built them`, async () => {
      const dir = project(`sqlite-${file}`, file, source);
      const traced = await bothWays(dir, file);
      assert.equal(traced.stdout, '2 true 2 1 1\n');
      assert.deepEqual(sentAt(traced, join(dir, file)), [
        ['select', 11],
        ['select', 13],
        ['delete', 14],
        ['select', 15],
        ['select', 16],
      ]);
    });
  }

  test('on node-postgres: a select keeps catch and finally, and $count names the line that built it', async () => {
    const dir = project('pg', 'app.mjs', PG_ESM);
    const traced = await bothWays(dir, 'app.mjs', { DATABASE_URL: await createDatabase('drizzle_builders') });
    assert.equal(traced.stdout, '2 true 2 1\n');
    assert.deepEqual(sentAt(traced, join(dir, 'app.mjs')), [
      ['select', 11],
      ['select', 13],
      ['delete', 14],
      ['select', 15],
    ]);
  });
});
