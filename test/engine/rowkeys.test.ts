// Row keys from SQL text and parameters, for each placeholder style the
// drivers use, and the one conclusion rules draw from them: disjoint values on
// a common column mean different rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeRows, excludedByPatterns, identityKeys, insertLiteralRows, RowKeyExtractor, rowsMayOverlap, sameRow, type RowKeySet } from '../../src/model/rowkeys';
import { MASKED_VALUE, maskSqlLiterals } from '../../src/trace/redact';

const extractor = new RowKeyExtractor();

function plain(keys: Map<string, RowKeySet>): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [table, cols] of keys) {
    out[table] = {};
    for (const [col, values] of cols) out[table][col] = [...values].sort();
  }
  return out;
}

describe('row keys: placeholder styles', () => {
  test('qmark (sqlite3)', () => {
    const k = extractor.keys('UPDATE jobs SET status=? WHERE jobs.id = ?', ['FAILED', 1]);
    assert.deepEqual(plain(k), { jobs: { id: ['1'] } });
  });
  test('format (psycopg2 positional)', () => {
    const k = extractor.keys('DELETE FROM jobs WHERE jobs.id = %s AND jobs.owner = %s', [7, 'ann']);
    assert.deepEqual(plain(k), { jobs: { id: ['7'], owner: ['ann'] } });
  });
  test('pyformat (psycopg2/psycopg with SQLAlchemy) with a cast', () => {
    const k = extractor.keys(
      'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = %(pk_1)s::INTEGER',
      { pk_1: 3 },
    );
    assert.deepEqual(plain(k), { jobs: { id: ['3'] } });
  });
  test('numeric (asyncpg)', () => {
    const k = extractor.keys('UPDATE jobs SET status=$1::VARCHAR WHERE jobs.id = $2::INTEGER', ['DONE', 12]);
    assert.deepEqual(plain(k), { jobs: { id: ['12'] } });
  });
  test('named (sqlite3 :name)', () => {
    const k = extractor.keys('SELECT * FROM customers AS c WHERE c.email = :email', { email: 'a@x.org' });
    assert.deepEqual(plain(k), { customers: { email: ['a@x.org'] } });
  });
  test('literals, reversed operands and IN lists', () => {
    const k = extractor.keys("SELECT * FROM jobs WHERE 5 = jobs.id AND jobs.kind IN ('a', 'b') AND status = 'X'", undefined);
    assert.deepEqual(plain(k), { jobs: { id: ['5'], kind: ['a', 'b'], status: ['X'] } });
  });
  test('expanded IN with parameters', () => {
    const k = extractor.keys('SELECT jobs.id FROM jobs WHERE jobs.id IN (?, ?, ?)', [1, 2, 3]);
    assert.deepEqual(plain(k), { jobs: { id: ['1', '2', '3'] } });
  });
});

describe('row keys: INSERT', () => {
  test('column list with parameters, one row', () => {
    const k = extractor.keys('INSERT INTO jobs (id, name, status) VALUES (?, ?, ?)', [1, 'nightly', 'PENDING']);
    assert.deepEqual(plain(k), { jobs: { id: ['1'], name: ['nightly'], status: ['PENDING'] } });
  });
  test('executemany parameter sets', () => {
    const k = extractor.keys('INSERT INTO jobs (name) VALUES (%(name)s)', [{ name: 'a' }, { name: 'b' }]);
    assert.deepEqual(plain(k), { jobs: { name: ['a', 'b'] } });
  });
  test('multi-row VALUES', () => {
    const k = extractor.keys('INSERT INTO jobs (name, status) VALUES (?, ?), (?, ?) RETURNING id', ['a', 'P', 'b', 'P']);
    assert.deepEqual(plain(k), { jobs: { name: ['a', 'b'], status: ['P'] } });
  });
  test('a DEFAULT value leaves its column to the database; the other columns still key the row', () => {
    const k = extractor.keys('INSERT INTO "accounts" ("id","owner","balance") VALUES (DEFAULT,$1,$2) RETURNING "id","owner","balance";', ['ada', 10]);
    assert.deepEqual(plain(k), { accounts: { owner: ['ada'], balance: ['10'] } });
  });
  test('an expression in VALUES gives up on the whole INSERT', () => {
    assert.equal(extractor.keys('INSERT INTO jobs (name, created) VALUES (?, now())', ['a']).size, 0);
  });
});

describe('row keys: what pins nothing', () => {
  test('a top-level OR', () => {
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE id = ? OR name = ?', [1, 'a']).size, 0);
  });
  test('no WHERE', () => {
    assert.equal(extractor.keys('SELECT jobs.id FROM jobs ORDER BY jobs.id', undefined).size, 0);
  });
  test('unknown parameters (types only, truncated, NULL)', () => {
    const types = new RowKeyExtractor(false);
    assert.equal(types.keys('SELECT * FROM jobs WHERE id = ?', ['int']).size, 0);
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE name = ?', ['x'.repeat(200) + '...']).size, 0);
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE id = ?', [null]).size, 0);
  });
  test('an unqualified column in a join', () => {
    const k = extractor.keys('SELECT * FROM jobs JOIN users ON users.id = jobs.owner WHERE id = ? AND users.name = ?', [1, 'ann']);
    assert.deepEqual(plain(k), { users: { name: ['ann'] } });
  });
  test('conditions inside a subquery or parentheses only restrict further', () => {
    const k = extractor.keys('SELECT * FROM jobs WHERE (id = ? OR id = ?) AND jobs.owner = ?', [1, 2, 'ann']);
    assert.deepEqual(plain(k), { jobs: { owner: ['ann'] } });
  });
  test('a bracketed AND list is the conditions of the clause (Sequelize brackets every WHERE of more than one)', () => {
    // A paranoid model's lookup by id, its values inlined; an UPDATE's bound; a pattern inside the brackets.
    const lookup = `SELECT "id", "name" FROM "collections" AS "collection" WHERE ("collection"."deletedAt" IS NULL AND "collection"."id" = '6b36f257') FOR NO KEY UPDATE;`;
    assert.deepEqual(plain(extractor.keys(lookup, undefined)), { collections: { id: ['6b36f257'] } });
    assert.deepEqual(plain(extractor.keys('UPDATE "documents" SET "title"=$1 WHERE ("id" = $2 AND "version" = $3)', ['One', 'd1', 2])), { documents: { id: ['d1'], version: ['2'] } });
    const validate = `SELECT "id" FROM "groups" AS "group" WHERE ("group"."deletedAt" IS NULL AND ("group"."teamId" = 't1' AND "group"."name" ILIKE 'Design'))`;
    assert.deepEqual(plain(extractor.keys(validate, undefined)), { groups: { teamid: ['t1'] } });
    assert.deepEqual([...extractor.patterns(validate, undefined).get('groups')!], [['name', ['Design']]]);
    // Brackets beside other conditions, one by one.
    assert.deepEqual(plain(extractor.keys('SELECT * FROM jobs WHERE (jobs.id = ?) AND (jobs.owner = ?)', [1, 'ann'])), { jobs: { id: ['1'], owner: ['ann'] } });
  });
  test('a bracketed list with OR inside pins nothing of its own; brackets that are no whole condition are not read', () => {
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE (jobs.id = ? OR jobs.owner = ?)', [1, 'ann']).size, 0);
    assert.deepEqual(plain(extractor.keys('SELECT * FROM jobs WHERE (jobs.id = ? OR jobs.id = ?) AND (jobs.owner = ? AND jobs.kind = ?)', [1, 2, 'ann', 'x'])), {
      jobs: { owner: ['ann'], kind: ['x'] },
    });
    // A bracketed list that is one side of an OR: the clause is a disjunction.
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE (jobs.id = ? AND jobs.owner = ?) OR jobs.kind = ?', [1, 'ann', 'x']).size, 0);
    // A row value compared, a subquery compared: neither is an AND list.
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE (jobs.id, jobs.owner) IN ((?, ?))', [1, 'ann']).size, 0);
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE (SELECT count(*) FROM runs WHERE runs.id = ?) > 0', [1]).size, 0);
    assert.equal(extractor.keys('SELECT * FROM jobs WHERE NOT (jobs.id = ? AND jobs.owner = ?)', [1, 'ann']).size, 0);
  });
  test('garbage does not throw', () => {
    assert.equal(extractor.keys("SELECT ((( WHERE = = 'unterminated", [1]).size, 0);
    assert.equal(extractor.keys('', undefined).size, 0);
  });
});

describe('row keys: overlap', () => {
  const read = (id: number) => extractor.keys('SELECT * FROM jobs WHERE jobs.id = ?', [id]).get('jobs');
  const insert = extractor.keys('INSERT INTO jobs (id, name) VALUES (?, ?)', [1, 'a']).get('jobs');
  const insertNoId = extractor.keys('INSERT INTO jobs (name) VALUES (?)', ['a']).get('jobs');
  test('different ids cannot be the same row', () => {
    assert.equal(rowsMayOverlap(read(2), insert), false);
    assert.equal(sameRow(read(2), insert), false);
  });
  test('same id is the same row', () => {
    assert.equal(rowsMayOverlap(read(1), insert), true);
    assert.equal(sameRow(read(1), insert), true);
  });
  test('no common column falls back to the table', () => {
    assert.equal(rowsMayOverlap(read(2), insertNoId), true);
    assert.equal(sameRow(read(2), insertNoId), false);
    assert.equal(rowsMayOverlap(undefined, insert), true);
  });
  test('identity-map keys compare with parameters', () => {
    assert.equal(sameRow(identityKeys(['id'], ['1']), read(1)), true);
    assert.equal(rowsMayOverlap(identityKeys(['id'], ['2']), read(1)), false);
    assert.equal(sameRow(identityKeys(['code'], ["'abc'"]), extractor.keys('SELECT * FROM t WHERE t.code = ?', ['abc']).get('t')), true);
    assert.equal(identityKeys(undefined, ['1']), undefined);
  });
  test('descriptions name the row', () => {
    assert.equal(describeRows('jobs', read(1)), 'jobs id=1');
    assert.equal(describeRows('jobs', undefined), 'jobs');
  });
});

describe('row keys: LIKE patterns', () => {
  const insert = (name: string) => extractor.keys('INSERT INTO articles (name) VALUES (%(name)s) RETURNING articles.id', { name }).get('articles');
  test('a LIKE on a parameter is kept as a pattern, not as a key', () => {
    const sql = 'SELECT count(articles.id) AS count_1 FROM articles WHERE articles.name LIKE %(name_1)s';
    assert.deepEqual(plain(extractor.keys(sql, { name_1: 'w1-%' })), {});
    assert.deepEqual([...extractor.patterns(sql, { name_1: 'w1-%' }).get('articles')!], [['name', ['w1-%']]]);
  });
  test('a written value the pattern cannot match is excluded; one it matches is not', () => {
    const patterns = extractor.patterns("SELECT * FROM articles WHERE articles.name LIKE 'w1-%' AND articles.id > 0", undefined).get('articles');
    assert.equal(excludedByPatterns(patterns, insert('w2-3')), true);
    assert.equal(excludedByPatterns(patterns, insert('W1-3')), false, 'SQLite LIKE ignores ASCII case: match either way');
    assert.equal(excludedByPatterns(patterns, insert('w1-3')), false);
    assert.equal(excludedByPatterns(patterns, undefined), false);
  });
  test('an OR, an ESCAPE clause or an unknown parameter keeps no pattern', () => {
    assert.equal(extractor.patterns("SELECT * FROM t WHERE t.name LIKE 'a%' OR t.id = 1", undefined).size, 0);
    assert.equal(extractor.patterns("SELECT * FROM t WHERE t.name LIKE 'a!%%' ESCAPE '!'", undefined).size, 0);
    assert.equal(new RowKeyExtractor(false).patterns('SELECT * FROM t WHERE t.name LIKE ?', ['a%']).size, 0);
  });
});

describe('row keys: what an UPDATE writes (SET)', () => {
  function assigned(sql: string, params: unknown, table = 'articles'): Record<string, string[] | undefined> | undefined {
    const found = extractor.assignments(sql, params).get(table);
    if (!found) return undefined;
    return Object.fromEntries([...found].map(([col, values]) => [col, values ? [...values].sort() : undefined]));
  }
  test('every placeholder style we record: pyformat, named, qmark, numeric, $n', () => {
    const want = { name: ['a-2'], status: ['DONE'] };
    assert.deepEqual(assigned('UPDATE articles SET name=%(name)s, status=%(status)s WHERE articles.id = %(articles_id)s', { name: 'a-2', status: 'DONE', articles_id: 4 }), want);
    assert.deepEqual(assigned('UPDATE articles SET name=:name, status=:status WHERE articles.id = :articles_id', { name: 'a-2', status: 'DONE', articles_id: 4 }), want);
    assert.deepEqual(assigned('UPDATE articles SET name=?, status=? WHERE articles.id = ?', ['a-2', 'DONE', 4]), want);
    assert.deepEqual(assigned('UPDATE articles SET name=:1, status=:2 WHERE articles.id = :3', ['a-2', 'DONE', 4]), want);
    assert.deepEqual(assigned('UPDATE articles SET name=$1::VARCHAR, status=$2::VARCHAR WHERE articles.id = $3::INTEGER', ['a-2', 'DONE', 4]), want);
    assert.deepEqual(plain(extractor.keys('UPDATE articles SET name=:1 WHERE articles.id = :2', ['a-2', 4])), { articles: { id: ['4'] } }, 'numeric parameters key the WHERE too');
  });
  test('literals, an alias, executemany and what stays unknown', () => {
    assert.deepEqual(assigned("UPDATE articles AS a SET a.name = 'x', hits = hits + 1, seen = now(), note = NULL WHERE a.id = 1", undefined), {
      name: ['x'], hits: undefined, seen: undefined, note: undefined,
    });
    assert.deepEqual(assigned('UPDATE articles SET name=%(name)s WHERE articles.id = %(articles_id)s', [{ name: 'a', articles_id: 1 }, { name: 'b', articles_id: 2 }]), { name: ['a', 'b'] });
    assert.deepEqual(assigned('UPDATE articles SET name=? WHERE id = ?', ['x'.repeat(200) + '...', 1]), { name: undefined }, 'a truncated value is unknown');
    assert.deepEqual(new RowKeyExtractor(false).assignments('UPDATE articles SET name=? WHERE id = ?', ['str', 'int']).get('articles')?.get('name'), undefined);
  });
  test('a SET list not understood, and statements that are no UPDATE, give none', () => {
    assert.equal(assigned('UPDATE articles SET (name, status) = (?, ?) WHERE id = ?', ['a', 'b', 1]), undefined);
    assert.equal(assigned('INSERT INTO articles (name) VALUES (?) ON CONFLICT (id) DO UPDATE SET name = excluded.name', ['a']), undefined);
    assert.equal(assigned('SELECT * FROM articles WHERE id = ?', [1]), undefined);
    assert.equal(assigned("UPDATE articles SET name = 'unterminated", undefined)?.name?.[0], 'unterminated');
  });
  test('which columns a read can depend on: the ones it names, or all with *', () => {
    const count = 'SELECT count(*) AS count_1 FROM articles WHERE articles.name LIKE ?';
    assert.equal(extractor.mayDependOn(count, 'name'), true);
    assert.equal(extractor.mayDependOn(count, 'status'), false, 'count(*) selects no column');
    assert.equal(extractor.mayDependOn('SELECT * FROM articles WHERE id = ?', 'status'), true);
    assert.equal(extractor.mayDependOn('SELECT a.* FROM articles AS a', 'status'), true);
    assert.equal(extractor.mayDependOn('SELECT articles.id, articles.name FROM articles WHERE articles.id = ?', 'Name'), true);
    assert.equal(extractor.mayDependOn('SELECT articles.id FROM articles WHERE articles.id = ?', 'name'), false);
    assert.equal(extractor.mayDependOn('WITH x AS (SELECT 1) SELECT * FROM x', 'name'), true, 'a statement not understood may depend on anything');
  });
});

describe('row keys: literals masked outside --params values', () => {
  // The same masking the agents apply before writing (src/trace/redact.ts; the Python agent's mask_literals agrees).
  test('masking keeps verbs, tables, names, quoted identifiers, comments and placeholders', () => {
    assert.equal(
      maskSqlLiterals(`SELECT "o'k", t1.n FROM t1 WHERE email = 'alice@x' AND id = 42 AND note = E'it\\'s' AND x = %(x_1)s -- 'kept'`),
      `SELECT "o'k", t1.n FROM t1 WHERE email = \u2026 AND id = \u2026 AND note = \u2026 AND x = %(x_1)s -- 'kept'`,
    );
    assert.equal(maskSqlLiterals("INSERT INTO t (a, b) VALUES ($1, 'don''t'), (?, 1.5e3)"), 'INSERT INTO t (a, b) VALUES ($1, \u2026), (?, \u2026)');
    assert.equal(maskSqlLiterals('DO $$ BEGIN PERFORM 1; END $$'), 'DO \u2026');
    assert.equal(maskSqlLiterals("SELECT 1 FROM t WHERE a = 'unterminated"), 'SELECT \u2026 FROM t WHERE a = \u2026');
    assert.equal(maskSqlLiterals('SAVEPOINT sa_savepoint_1'), 'SAVEPOINT sa_savepoint_1');
  });

  test('a masked literal pins no row; the parameters around it keep their positions', () => {
    const sql = "UPDATE jobs SET status = 'done' WHERE jobs.id = 42 AND jobs.owner = ?";
    assert.deepEqual(plain(extractor.keys(sql, ['ann'])), { jobs: { id: ['42'], owner: ['ann'] } });
    assert.deepEqual(plain(extractor.keys(maskSqlLiterals(sql), ['ann'])), { jobs: { owner: ['ann'] } });
    // Two masked lookups are never taken for the same row, nor for different rows.
    const a = extractor.keys(maskSqlLiterals("SELECT * FROM users WHERE email = 'a'"), undefined).get('users');
    const b = extractor.keys(maskSqlLiterals("SELECT * FROM users WHERE email = 'b'"), undefined).get('users');
    assert.equal(sameRow(a, b), false);
    assert.equal(rowsMayOverlap(a, b), true);
    assert.deepEqual(plain(extractor.keys(maskSqlLiterals("INSERT INTO users (id, email) VALUES (1, 'a')"), undefined)), {});
  });

  test('a masked identity-map key is no key', () => {
    assert.deepEqual(identityKeys(['id'], ['1']), new Map([['id', new Set(['1'])]]));
    assert.equal(identityKeys(['id'], [MASKED_VALUE]), undefined);
  });
});

describe('row keys: the literal rows of an INSERT (values a client wrote into the text)', () => {
  test('each row in the listed columns order, one value per column; what is no literal is undefined', () => {
    assert.deepEqual(insertLiteralRows(`INSERT INTO "pairs" ("Value", key_two, "key_one") VALUES ('it''s, (a) tuple', 1, 2.50), (now(), $1, -3), (DEFAULT, 456::int, '123') RETURNING *`), {
      columns: ['value', 'key_two', 'key_one'],
      rows: [
        ["it's, (a) tuple", '1', '2.5'],
        [undefined, undefined, '-3'],
        [undefined, '456', '123'],
      ],
    });
    assert.deepEqual(insertLiteralRows('INSERT OR IGNORE INTO main.t (a) VALUES (1)'), { columns: ['a'], rows: [['1']] });
  });

  test('a literal the agent masked is no value', () => {
    const masked = maskSqlLiterals("INSERT INTO t (a, b) VALUES ('secret', 2)");
    assert.deepEqual(insertLiteralRows(masked)?.rows, [[undefined, undefined]]);
    assert.ok(masked.includes(MASKED_VALUE));
  });

  test('no VALUES list of the listed columns: undefined', () => {
    for (const sql of ['INSERT INTO t (a, b) SELECT 1, 2', 'INSERT INTO t VALUES (1, 2)', 'INSERT INTO t (a, b) VALUES (1)', 'UPDATE t SET a = 1', 'SELECT 1']) {
      assert.equal(insertLiteralRows(sql), undefined, sql);
    }
  });
});
