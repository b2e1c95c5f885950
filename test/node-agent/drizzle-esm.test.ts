// Drizzle's ES module build, hooked as its CommonJS one: where drizzle-orm is
// installed the preload appends to its modules, as Node reads them, an epilogue
// (src/agents/node/esm.ts) that hands each module's classes to the same patches. Real drizzle-orm and
// better-sqlite3 in single Node processes, through the environment `txlens run`
// gives a command; the fixture projects under vitest and tsx are in
// orm-fixtures.test.ts.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot, tempDir } from '../support/env';
import { plainNodeEnv, runNode, runTraced as runAgent, type NodeRun } from './node-run';

interface Line {
  k: string;
  conn?: string;
  sess?: string;
  cls?: string;
  sql?: string;
  libs?: Record<string, string>;
  at?: [string, number, string];
}

type Run = NodeRun<Line>;

function runTraced(cwd: string, args: string[]): Promise<Run> {
  return runAgent<Line>(cwd, args);
}

/** Two Drizzle transactions on better-sqlite3, then an INSERT built on line 8 and sent after an await. */
const APP = [
  "import Database from 'better-sqlite3';",
  "import { sql } from 'drizzle-orm';",
  "import { drizzle } from 'drizzle-orm/better-sqlite3';",
  "import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';",
  "const notes = sqliteTable('notes', { id: integer('id').primaryKey(), text: text('text') });",
  "const db = drizzle(new Database(':memory:'));",
  "db.run(sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)`);",
  "const later = db.insert(notes).values({ text: 'c' });",
  "for (const text of ['a', 'b']) db.transaction((tx) => tx.insert(notes).values({ text }).run());",
  'await null;',
  'await later;',
  'console.log(db.all(sql`SELECT count(*) AS n FROM notes`)[0].n);',
  '',
].join('\n');

const NOTE = /txlens: drizzle-orm loaded as an ES module is traced in part/g;

function project(label: string, app = APP): string {
  const dir = realpathSync(tempDir(`drizzle-esm-${label}`));
  writeFileSync(join(dir, 'app.mjs'), app);
  return dir;
}

/** A copy of the real drizzle-orm's ES module build and manifest under `dir`'s node_modules, beside the real better-sqlite3; its folder. */
function installDrizzleCopy(dir: string): string {
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  const real = realpathSync(join(repoRoot, 'node_modules', 'drizzle-orm'));
  cpSync(real, join(modules, 'drizzle-orm'), { recursive: true, filter: (src) => !/\.(cjs|map|ts|cts)$/.test(src) });
  symlinkSync(realpathSync(join(repoRoot, 'node_modules', 'better-sqlite3')), join(modules, 'better-sqlite3'), 'dir');
  return join(modules, 'drizzle-orm');
}

function statements(run: Run): string[] {
  return run.lines.filter((l) => l.k === 'stmt').map((l) => (l.sql ?? '').split(' ')[0].toUpperCase());
}

describe("Drizzle's ES module build", () => {
  test('is hooked in full: its transactions are sessions at their lines, a query sent after an await names the line that built it, and no note is given', async () => {
    const dir = project('hooked');
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const run = await runTraced(dir, ['app.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\n');
    assert.doesNotMatch(run.stderr, NOTE);
    assert.doesNotMatch(run.stderr, /txlens:/);
    const app = join(dir, 'app.mjs');
    const opened = run.lines.filter((l) => l.k === 'session_open');
    assert.deepEqual(
      opened.map((l) => [l.cls, l.at?.[0], l.at?.[1]]),
      [
        ['BetterSQLiteTransaction', app, 9],
        ['BetterSQLiteTransaction', app, 9],
      ],
    );
    // Each transaction's BEGIN, INSERT and COMMIT carry its session.
    for (const open of opened) {
      const own = run.lines.filter((l) => l.sess === open.sess && l.k === 'stmt');
      assert.deepEqual(
        own.map((l) => l.sql?.split(' ')[0].toUpperCase()),
        ['BEGIN', 'INSERT', 'COMMIT'],
      );
    }
    assert.deepEqual(statements(run), ['CREATE', 'BEGIN', 'INSERT', 'COMMIT', 'BEGIN', 'INSERT', 'COMMIT', 'INSERT', 'SELECT']);
    // Built on line 8, sent from a microtask after two awaits: the builder kept its line.
    const last = run.lines.filter((l) => l.k === 'stmt' && /^insert/i.test(l.sql ?? '')).at(-1);
    assert.deepEqual([last?.at?.[0], last?.at?.[1]], [app, 8]);
    assert.equal(run.lines.find((l) => l.k === 'header')?.libs?.['drizzle-orm'], JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'drizzle-orm', 'package.json'), 'utf8')).version);
  });

  test('is hooked in a worker thread, which hooks it for itself', async () => {
    const dir = project('worker');
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'main.mjs'), "import { Worker } from 'node:worker_threads';\nnew Worker(new URL('./app.mjs', import.meta.url));\n");
    const run = await runTraced(dir, ['main.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\n');
    assert.doesNotMatch(run.stderr, /txlens:/);
    assert.equal(run.lines.filter((l) => l.k === 'session_open' && l.cls === 'BetterSQLiteTransaction').length, 2);
  });

  test('is hooked in full when CommonJS imports it with import(), as mocha loads a spec', async () => {
    const dir = project('from-commonjs');
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'main.cjs'), "import('./app.mjs');\n");
    const run = await runTraced(dir, ['main.cjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\n');
    assert.doesNotMatch(run.stderr, /txlens:/);
    const app = join(dir, 'app.mjs');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'session_open').map((l) => [l.cls, l.at?.[0], l.at?.[1]]),
      [
        ['BetterSQLiteTransaction', app, 9],
        ['BetterSQLiteTransaction', app, 9],
      ],
    );
  });

  // Node's off-thread loader hooks (module.register) would start a thread in every process of a project where
  // drizzle-orm is installed, whatever it imports: the agent hooks the build in the process itself.
  test('is hooked without a thread: a process where it is installed has as many threads traced as untraced, whether it imports it or not', async (t) => {
    if (!existsSync('/proc/self/status')) return t.skip('threads are counted through /proc');
    const threads = "(await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/Threads:\\s+(\\d+)/)[1]";
    const dir = project('threads', `${APP}console.log(${threads});\n`);
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'idle.mjs'), `console.log(${threads});\n`);
    writeFileSync(join(dir, 'idle.cjs'), `console.log(${threads.replace("(await import('node:fs'))", "require('node:fs')")});\n`);
    for (const script of ['app.mjs', 'idle.mjs', 'idle.cjs']) {
      const untraced = await runNode<Line>(dir, [script], plainNodeEnv());
      const traced = await runTraced(dir, [script]);
      assert.equal(untraced.code, 0, untraced.stderr);
      assert.equal(traced.code, 0, traced.stderr);
      assert.equal(traced.stdout, untraced.stdout, `${script}: threads traced and untraced`);
      if (script === 'app.mjs') assert.equal(traced.lines.filter((l) => l.k === 'session_open').length, 2);
    }
  });

  test("reads of its files by anyone but Node's module loader get exactly the bytes on disk", async () => {
    const read = [
      "import { readFile } from 'node:fs/promises';",
      "import { readFileSync } from 'node:fs';",
      "const url = new URL(import.meta.resolve('drizzle-orm/better-sqlite3/session'));",
      'const onDisk = readFileSync(url);',
      "console.log(Buffer.compare(await readFile(url), onDisk) === 0, (await readFile(url, 'utf8')) === onDisk.toString('utf8'));",
      '',
    ].join('\n');
    const dir = project('reads', APP + read);
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const run = await runTraced(dir, ['app.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\ntrue true\n');
    // The same process's import of that file was hooked.
    assert.equal(run.lines.filter((l) => l.k === 'session_open').length, 2);
  });

  test('of a version the hooks do not know is reported once and left untraced; its statements are traced through the driver', async () => {
    const dir = project('unknown-version');
    const drizzleCopy = installDrizzleCopy(dir);
    const manifest = JSON.parse(readFileSync(join(drizzleCopy, 'package.json'), 'utf8'));
    writeFileSync(join(drizzleCopy, 'package.json'), JSON.stringify({ ...manifest, version: '2.0.0' }));
    const run = await runTraced(dir, ['app.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\n');
    assert.equal(run.stderr.match(/txlens: drizzle-orm 2\.0\.0 is not supported \(supported: 0\.29 to 0\.x\); its use is not traced/g)?.length, 1, run.stderr);
    // Not hooked, so traced in part, which the note still says.
    assert.equal(run.stderr.match(NOTE)?.length, 1, run.stderr);
    assert.equal(run.lines.filter((l) => l.k === 'session_open').length, 0);
    assert.deepEqual(statements(run), ['CREATE', 'BEGIN', 'INSERT', 'COMMIT', 'BEGIN', 'INSERT', 'COMMIT', 'INSERT', 'SELECT']);
  });

  test('whose module declares a class otherwise than the hooks expect still runs unchanged; that hook is reported once and left out', async () => {
    const dir = project('unknown-layout');
    const drizzleCopy = installDrizzleCopy(dir);
    // QueryPromise as a constant: the epilogue cannot put the agent's subclass in its place.
    const file = join(drizzleCopy, 'query-promise.js');
    const source = readFileSync(file, 'utf8');
    assert.match(source, /^class QueryPromise \{/m);
    writeFileSync(file, source.replace(/^class QueryPromise \{/m, 'const QueryPromise = class QueryPromise {'));
    const run = await runTraced(dir, ['app.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '3\n');
    assert.equal(
      run.stderr.match(/txlens: drizzle-orm [\d.]+: query-promise\.js does not declare QueryPromise as the agent expects; what it would hook there is left untraced/g)?.length,
      1,
      run.stderr,
    );
    assert.doesNotMatch(run.stderr, /txlens: capture/);
    // The session classes, in modules of their own, are hooked all the same.
    assert.equal(run.lines.filter((l) => l.k === 'session_open').length, 2);
    assert.deepEqual(statements(run), ['CREATE', 'BEGIN', 'INSERT', 'COMMIT', 'BEGIN', 'INSERT', 'COMMIT', 'INSERT', 'SELECT']);
  });
});
