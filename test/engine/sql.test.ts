import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindKeys, keyTemplate, paramKey } from '../../src/model/rowkeys';
import { classifySql, SqlClassifier } from '../../src/model/sql';

test('ORM inserts, updates and deletes are writes to their table', () => {
  const ins = classifySql('INSERT INTO jobs (name, status) VALUES (?, ?) RETURNING id');
  assert.deepEqual({ ...ins, text: undefined }, { text: undefined, op: 'write', verb: 'INSERT', writes: ['jobs'], reads: [], parsed: true });
  const up = classifySql('UPDATE "Jobs" SET status=%(status)s WHERE jobs.id = %(id_1)s');
  assert.equal(up.op, 'write');
  assert.deepEqual(up.writes, ['Jobs']);
  const del = classifySql('DELETE FROM public.jobs WHERE id = $1');
  assert.deepEqual([del.op, del.writes], ['write', ['jobs']]);
});

test('selects read every table they name, joins included, and FOR UPDATE stays a read', () => {
  const s = classifySql('SELECT jobs.id FROM jobs JOIN users ON users.id = jobs.owner_id WHERE jobs.id = ? FOR UPDATE');
  assert.equal(s.op, 'read');
  assert.deepEqual(s.reads, ['jobs', 'users']);
  assert.deepEqual(s.writes, []);
});

test('transaction control, DDL and catalogue reads are classified without inventing tables', () => {
  for (const sql of ['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT sa_savepoint_1', 'RELEASE SAVEPOINT sa_savepoint_1']) {
    assert.equal(classifySql(sql).op, 'tx', sql);
  }
  assert.equal(classifySql('CREATE TABLE jobs (id INTEGER PRIMARY KEY)').op, 'ddl');
  assert.deepEqual(classifySql("SELECT name FROM sqlite_master WHERE type='table'").reads, []);
  assert.deepEqual(classifySql('PRAGMA main.table_info("jobs")').op, 'other');
});

test('comments, string literals and CTEs do not confuse the table list', () => {
  const s = classifySql("/* app.py:3 */ WITH recent AS (SELECT * FROM jobs WHERE name = 'from users') INSERT INTO archive SELECT * FROM recent -- done");
  assert.equal(s.op, 'write');
  assert.deepEqual(s.writes, ['archive']);
  assert.deepEqual(s.reads, ['jobs']);
  assert.equal(classifySql("INSERT OR IGNORE INTO tags (name) VALUES ('x')").writes[0], 'tags');
  assert.deepEqual(classifySql('TRUNCATE TABLE jobs, users RESTART IDENTITY').writes, ['jobs', 'users']);
});

test('SQL it cannot read is reported as unparsed, not guessed', () => {
  assert.equal(classifySql('').parsed, false);
  assert.equal(classifySql('   ;;; ').parsed, false);
  assert.equal(classifySql('FROBNICATE the widgets').op, 'other');
});

test('one tokenizer for tables and row keys: every placeholder style, casts, literals and a $$ body read alike', () => {
  // The classifier and row keys read the same tokens: a named placeholder is never a table, a literal
  // that looks like SQL is a value, and a function body between $$ is not the statement's SQL.
  const styles = ['?', '%s', '%(id)s', '$1', ':1', ':id'];
  for (const p of styles) {
    const s = classifySql(`SELECT jobs.id FROM jobs JOIN users ON users.id = jobs.owner_id WHERE jobs.id = ${p}::int AND jobs.name <> 'FROM secrets'`);
    assert.deepEqual([s.op, s.verb, s.reads, s.writes], ['read', 'SELECT', ['jobs', 'users'], []], p);
    const keys = bindKeys(keyTemplate(`SELECT * FROM jobs WHERE jobs.id = ${p}::int`), p.includes('id') ? { id: 7 } : [7], true);
    assert.deepEqual([...(keys.get('jobs')?.get('id') ?? [])], [paramKey(7)], p);
  }
  const fn = classifySql("CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN DELETE FROM audit_log; RETURN NEW; END $$ LANGUAGE plpgsql");
  assert.deepEqual([fn.op, fn.writes], ['ddl', []]);
});

test('the classifier gives one shape per text, however its strings were made, and never one text\'s shape for another', () => {
  const classifier = new SqlClassifier();
  // Texts of one length that agree where the recent-text table looks (table-name positions, middle, end)
  // but differ elsewhere, and texts that differ only there: each must get its own shape.
  const texts = [
    'INSERT INTO accounts (name, status, created_at) VALUES (?, ?, ?)',
    'INSERT INTO invoices (name, status, created_at) VALUES (?, ?, ?)',
    'INSERT INTO accounts (nome, status, created_at) VALUES (?, ?, ?)',
    'UPDATE items SET status=? WHERE items.id = ?',
    'UPDATE users SET status=? WHERE users.id = ?',
    'DELETE FROM items WHERE items.id = ?',
    'SELECT 1',
    '',
  ];
  for (let round = 0; round < 3; round++) {
    for (const text of texts) {
      // A string built anew each time, as JSON.parse makes one per trace line.
      const fresh = JSON.parse(JSON.stringify(text)) as string;
      const shape = classifier.classify(fresh);
      assert.equal(shape.text, text);
      assert.deepEqual({ ...shape, text: undefined }, { ...classifySql(text), text: undefined }, text);
      assert.equal(classifier.classify(JSON.parse(JSON.stringify(text)) as string), shape, `one shared shape for ${JSON.stringify(text)}`);
    }
  }
  // Past its limit the cache starts over; the shapes it gives are still right.
  const small = new SqlClassifier(2);
  for (const text of [...texts, ...texts]) assert.equal(small.classify(text).text, text);
});
