// The test bed itself: if these fail, every other failure is noise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'pg';
import { createDatabase, distAgentDir, pgAdminUrl, python, pythonTraceEnv, repoRoot, tempDir } from './env';

async function withClient<T>(url: string, use: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

test('createDatabase gives separate databases on the throwaway server', async () => {
  const admin = new URL(await pgAdminUrl());
  assert.equal(admin.hostname, '127.0.0.1');

  const first = await createDatabase('smoke_a');
  const second = await createDatabase('smoke_a');
  assert.notEqual(first, second);

  await withClient(first, async (c) => {
    await c.query('CREATE TABLE note (id int PRIMARY KEY, body text NOT NULL)');
    await c.query('INSERT INTO note VALUES ($1, $2)', [1, 'written in the first database']);
  });
  const rows = await withClient(first, async (c) => (await c.query('SELECT id, body FROM note')).rows);
  assert.deepEqual(rows, [{ id: 1, body: 'written in the first database' }]);

  const inSecond = await withClient(second, async (c) => {
    const r = await c.query("SELECT current_database() AS name, to_regclass('public.note') AS note");
    return r.rows[0];
  });
  assert.equal(inSecond.name, new URL(second).pathname.slice(1));
  assert.equal(inSecond.note, null, 'the second database must not see the first one\'s table');
});

for (const [name, version] of [
  ['sa14', '1.4.54'],
  ['sa20', '2.0.58'],
] as const) {
  test(`python('${name}') has SQLAlchemy ${version} and the drivers the fixtures use`, () => {
    const r = spawnSync(
      python(name),
      ['-c', 'import sqlalchemy, pytest, pytest_asyncio, psycopg2, psycopg, asyncpg, aiosqlite, fastapi, httpx; print(sqlalchemy.__version__)'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  });
}

test('pythonTraceEnv puts the agent first on PYTHONPATH and leaves PYTEST_PLUGINS as it was', () => {
  const trace = tempDir('smoke-trace');
  const env = pythonTraceEnv(trace, repoRoot, { base: { PYTHONPATH: 'elsewhere', PYTEST_PLUGINS: 'other_plugin' } });
  assert.equal(env.PYTHONPATH, `${distAgentDir}${delimiter}elsewhere`);
  assert.equal(env.PYTEST_PLUGINS, 'other_plugin');
  assert.equal(env.TXLENS_TRACE_DIR, trace);
  assert.equal(env.TXLENS_WORKSPACE, repoRoot);
  assert.equal(env.TXLENS_PARAMS, 'values');

  const bare = pythonTraceEnv(trace, repoRoot, { base: {}, params: 'off' });
  assert.equal(bare.PYTHONPATH, distAgentDir);
  assert.equal(bare.PYTEST_PLUGINS, undefined);
  assert.equal(bare.TXLENS_PARAMS, 'off');
});

test('tempDir gives a fresh writable directory each time', () => {
  const a = tempDir('smoke');
  const b = tempDir('smoke');
  assert.notEqual(a, b);
  writeFileSync(join(a, 'probe'), 'x');
  assert.equal(readFileSync(join(a, 'probe'), 'utf8'), 'x');
  assert.equal(existsSync(join(b, 'probe')), false);
});
