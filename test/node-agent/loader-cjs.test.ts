// A loader registered with module.register that answers for CommonJS files with
// their source (as jiti/register does: node-pg-migrate's CI runs its TypeScript
// runners under it) makes Node evaluate pg without Module#load. The agent's own
// hook, registered after the app's (src/agents/node/loader-cjs.ts), hands pg's
// Client to the same patches. Real pg against the test Postgres, one Node
// process in the environment `txlens run` gives a command.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { traceEnv } from '../../src/capture/env';
import { createDatabase, repoRoot, tempDir } from '../support/env';

const agentDir = join(repoRoot, 'dist', 'agents');

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

function run(cwd: string, env: NodeJS.ProcessEnv, traceDir: string): Promise<{ code: number | null; stderr: string; lines: Line[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', './register.mjs', 'app.mjs'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const files = existsSync(traceDir) ? readdirSync(traceDir).filter((f) => f.endsWith('.ndjson')) : [];
      const lines = files.flatMap((f) =>
        readFileSync(join(traceDir, f), 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Line),
      );
      resolve({ code, stderr, lines });
    });
  });
}

describe('a loader that hands CommonJS files over as source (jiti/register)', () => {
  test("pg's statements and transaction are traced, at the app's lines", async () => {
    const dir = tempDir('loader-cjs');
    writeFileSync(join(dir, 'loader.mjs'), LOADER);
    writeFileSync(join(dir, 'register.mjs'), REGISTER);
    writeFileSync(join(dir, 'app.mjs'), APP);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'loader-cjs', private: true, type: 'module' }));
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const url = await createDatabase('loader_cjs');
    const traceDir = join(tempDir('loader-cjs-trace'), 'run');
    const base = { ...process.env, NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: undefined, DATABASE_URL: url };
    const traced = await run(dir, traceEnv(base, { traceDir, workspace: dir, agentDir }), traceDir);
    assert.equal(traced.code, 0, traced.stderr);
    const kinds = traced.lines.map((l) => l.k);
    assert.ok(kinds.includes('begin') && kinds.includes('commit'), traced.stderr + kinds.join(','));
    const select = traced.lines.find((l) => l.k === 'stmt' && l.sql === 'SELECT 1 AS one');
    assert.ok(select, kinds.join(','));
    assert.equal(select.at?.[1], 5);
    assert.match(select.at?.[0] ?? '', /app\.mjs$/);
  });
});
