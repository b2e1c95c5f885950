// A loader registered with module.register that answers for CommonJS files with
// their source (as jiti/register does: node-pg-migrate's CI runs its TypeScript
// runners under it) makes Node evaluate pg without Module#load. The agent's own
// hook, registered after the app's (src/agents/node/loader-cjs.ts), hands pg's
// Client to the same patches. Real pg against the test Postgres, one Node
// process in the environment `txlens run` gives a command.
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createDatabase, repoRoot, tempDir } from '../support/env';
import { runTraced } from './node-run';


interface Line {
  k: string;
  sql?: string;
  at?: [string, number, string];
}

/** What jiti's load hook does for a CommonJS .js file: its own read of the source, handed back as commonjs. */
const LOADER = [
  "import { readFile } from 'node:fs/promises';",
  'export async function load(url, context, nextLoad) {',
  "  if (url.startsWith('file:') && url.endsWith('.js') && url.includes('/node_modules/')) {",
  "    return { format: 'commonjs', source: await readFile(new URL(url), 'utf8'), shortCircuit: true };",
  '  }',
  '  return nextLoad(url, context);',
  '}',
  '',
].join('\n');

const REGISTER = ["import { register } from 'node:module';", "register('./loader.mjs', import.meta.url);", ''].join('\n');

const APP = [
  "import pg from 'pg';",
  'const client = new pg.Client(process.env.DATABASE_URL);',
  'await client.connect();',
  "await client.query('BEGIN');",
  "await client.query('SELECT 1 AS one');",
  "await client.query('COMMIT');",
  'await client.end();',
  "console.log('done');",
  '',
].join('\n');

describe('a loader that hands CommonJS files over as source (jiti/register)', () => {
  test("pg's statements and transaction are traced, at the app's lines", async () => {
    const dir = tempDir('loader-cjs');
    writeFileSync(join(dir, 'loader.mjs'), LOADER);
    writeFileSync(join(dir, 'register.mjs'), REGISTER);
    writeFileSync(join(dir, 'app.mjs'), APP);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'loader-cjs', private: true, type: 'module' }));
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const url = await createDatabase('loader_cjs');
    const traced = await runTraced<Line>(dir, ['--import', './register.mjs', 'app.mjs'], { DATABASE_URL: url });
    assert.equal(traced.code, 0, traced.stderr);
    const kinds = traced.lines.map((l) => l.k);
    assert.ok(kinds.includes('begin') && kinds.includes('commit'), traced.stderr + kinds.join(','));
    const select = traced.lines.find((l) => l.k === 'stmt' && l.sql === 'SELECT 1 AS one');
    assert.ok(select, kinds.join(','));
    assert.equal(select.at?.[1], 5);
    assert.match(select.at?.[0] ?? '', /app\.mjs$/);
  });
});
