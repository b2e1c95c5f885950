// Which module files the agent hooks (modules.ts). TypeORM's own test suite
// runs the compiled sources of its checkout, not a copy in node_modules: its
// query runners are hooked there too, so its transactions are query-runner
// sessions as they are in an app (seen on TypeORM's suite: 18,923 transactions,
// none in a session).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hookedBy } from '../../src/agents/node/modules';
import { tempDir } from '../support/env';

/** A file at `rel` in a project whose package.json names `name`. */
function fileIn(name: string, rel: string): string {
  const root = tempDir(`hooked-${name}`);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name, version: '1.1.0' }));
  const file = join(root, ...rel.split('/'));
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, '');
  return file;
}

test("TypeORM's query runners are hooked in node_modules and in a TypeORM checkout; the same file names elsewhere are not", () => {
  assert.equal(hookedBy('/app/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js'), 'typeorm-pg');
  assert.equal(hookedBy('/app/node_modules/typeorm/driver/sqlite-abstract/AbstractSqliteQueryRunner.js'), 'typeorm-sqlite');

  assert.equal(hookedBy(fileIn('typeorm', 'build/compiled/src/driver/postgres/PostgresQueryRunner.js')), 'typeorm-pg');
  assert.equal(hookedBy(fileIn('typeorm', 'build/compiled/src/driver/sqlite-abstract/AbstractSqliteQueryRunner.js')), 'typeorm-sqlite');
  // Another file of the checkout, and a runner of the same name in a project that is not TypeORM.
  assert.equal(hookedBy(fileIn('typeorm', 'build/compiled/src/driver/postgres/PostgresDriver.js')), '');
  assert.equal(hookedBy(fileIn('my-orm', 'lib/driver/postgres/PostgresQueryRunner.js')), '');
});

test("pg's Client and pg-pool's Pool are hooked in node_modules and in a node-postgres checkout's packages (its workspace links them); the same file names elsewhere are not", () => {
  assert.equal(hookedBy('/app/node_modules/pg/lib/client.js'), 'pg');
  assert.equal(hookedBy('/app/node_modules/pg-pool/index.js'), 'pg-pool');

  assert.equal(hookedBy(fileIn('pg', 'lib/client.js')), 'pg');
  assert.equal(hookedBy(fileIn('pg-pool', 'index.js')), 'pg-pool');
  // pg's native client, its entry point, and files of the same names in other projects.
  assert.equal(hookedBy(fileIn('pg', 'lib/native/client.js')), '');
  assert.equal(hookedBy(fileIn('pg', 'lib/index.js')), '');
  assert.equal(hookedBy(fileIn('my-app', 'lib/client.js')), '');
  assert.equal(hookedBy(fileIn('my-app', 'index.js')), '');
  assert.equal(hookedBy(fileIn('pg-pool', 'test/index.js')), '');
});

test("Sequelize's Transaction is hooked in node_modules and in a Sequelize checkout's lib/ (its own suite runs it); other transaction.js files are not", () => {
  assert.equal(hookedBy('/app/node_modules/sequelize/lib/transaction.js'), 'sequelize');
  assert.equal(hookedBy(fileIn('sequelize', 'lib/transaction.js')), 'sequelize');
  // The query generator's file of the same name, the sources lib/ is built from, and another project's lib/.
  assert.equal(hookedBy(fileIn('sequelize', 'lib/dialects/abstract/query-generator/transaction.js')), '');
  assert.equal(hookedBy(fileIn('sequelize', 'src/transaction.js')), '');
  assert.equal(hookedBy(fileIn('my-orm', 'lib/transaction.js')), '');
  // The Sequelize class, whose query and transaction an app may replace with its own forwarders.
  assert.equal(hookedBy('/app/node_modules/sequelize/lib/sequelize.js'), 'sequelize-main');
  assert.equal(hookedBy(fileIn('sequelize', 'lib/sequelize.js')), 'sequelize-main');
  assert.equal(hookedBy(fileIn('my-orm', 'lib/sequelize.js')), '');
});

// jest 28 (typeorm-transactional's suite) keeps jest-circus's adapter under
// build/legacy-code-todo-rewrite/: unhooked, the suite's 42 tests were none,
// and every finding was "outside any test".
test("jest-circus's adapter is hooked where jest 30 keeps it and where jest 27 to 29 keep it", () => {
  assert.equal(hookedBy('/app/node_modules/jest-circus/build/jestAdapterInit.js'), 'jest-circus');
  assert.equal(hookedBy('/app/node_modules/jest-circus/build/legacy-code-todo-rewrite/jestAdapterInit.js'), 'jest-circus');
  assert.equal(hookedBy('/app/node_modules/jest-circus/build/legacy-code-todo-rewrite/jestAdapter.js'), '');
});

// better-sqlite3's own suite requires '../.': unhooked, its 311 tests traced no statement.
test("better-sqlite3's lib/database.js and addon are hooked in node_modules and in a better-sqlite3 checkout; the same file names elsewhere are not", () => {
  assert.equal(hookedBy('/app/node_modules/better-sqlite3/lib/database.js'), 'better-sqlite3');
  assert.equal(hookedBy('/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'), 'better-sqlite3-addon');

  assert.equal(hookedBy(fileIn('better-sqlite3', 'lib/database.js')), 'better-sqlite3');
  assert.equal(hookedBy(fileIn('better-sqlite3', 'build/Release/better_sqlite3.node')), 'better-sqlite3-addon');
  assert.equal(hookedBy(fileIn('better-sqlite3', 'build/Debug/better_sqlite3.node')), 'better-sqlite3-addon');
  assert.equal(hookedBy(fileIn('better-sqlite3', 'prebuilds/linux-x64.node')), 'better-sqlite3-addon');
  // Another file of the checkout, and files of the same names in a project that is not better-sqlite3.
  assert.equal(hookedBy(fileIn('better-sqlite3', 'lib/methods/wrappers.js')), '');
  assert.equal(hookedBy(fileIn('my-db', 'lib/database.js')), '');
  assert.equal(hookedBy(fileIn('my-db', 'build/Release/better_sqlite3.node')), '');
  assert.equal(hookedBy(fileIn('my-db', 'prebuilds/linux-x64.node')), '');
});

// Knex's own integration suite runs its lib/: unhooked, its transactions were in no session.
test("Knex's hooked files are hooked in node_modules and at their place in a Knex checkout; the same file names elsewhere are not", () => {
  assert.equal(hookedBy('/app/node_modules/knex/lib/execution/transaction.js'), 'knex');
  assert.equal(hookedBy(fileIn('knex', 'lib/execution/transaction.js')), 'knex');
  assert.equal(hookedBy(fileIn('knex', 'lib/execution/runner.js')), 'knex-runner');
  assert.equal(hookedBy(fileIn('knex', 'lib/query/querybuilder.js')), 'knex-builder');
  assert.equal(hookedBy(fileIn('knex', 'lib/raw.js')), 'knex-builder');
  assert.equal(hookedBy(fileIn('knex', 'lib/schema/builder.js')), 'knex-builder');
  // A Knex file deeper in the checkout than its place, another file, and another project's files of those names.
  assert.equal(hookedBy(fileIn('knex', 'test/lib/raw.js')), '');
  assert.equal(hookedBy(fileIn('knex', 'lib/client.js')), '');
  assert.equal(hookedBy(fileIn('my-orm', 'lib/raw.js')), '');
  assert.equal(hookedBy(fileIn('my-orm', 'lib/execution/transaction.js')), '');
});
