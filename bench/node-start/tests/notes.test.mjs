// A Drizzle suite on better-sqlite3 through its ES module build (`import`): notes written in
// transactions (some rolled back), read back by queries built before they are awaited.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

const notes = sqliteTable('notes', { id: integer('id').primaryKey(), text: text('text').notNull() });
const rounds = Math.max(1, Math.round(200 * Number(process.env.TXLENS_BENCH_SCALE || 1)));

function open() {
  const db = drizzle(new Database(':memory:'));
  db.run(sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`);
  return db;
}

test('writes notes in transactions and reads them back', () => {
  const db = open();
  for (let i = 0; i < rounds; i++) {
    db.transaction((tx) => {
      tx.insert(notes).values({ text: `note ${i}` }).run();
      tx.insert(notes).values({ text: `copy ${i}` }).run();
    });
    assert.equal(db.select().from(notes).where(eq(notes.text, `note ${i}`)).all().length, 1);
  }
});

test('a transaction that throws leaves nothing behind', () => {
  const db = open();
  for (let i = 0; i < rounds; i++) {
    assert.throws(() =>
      db.transaction((tx) => {
        tx.insert(notes).values({ text: `lost ${i}` }).run();
        throw new Error('changed my mind');
      }),
    );
  }
  assert.equal(db.all(sql`SELECT count(*) AS n FROM notes`)[0].n, 0);
});

test('queries built first and awaited later', async () => {
  const db = open();
  for (let i = 0; i < rounds; i++) {
    const insert = db.insert(notes).values({ text: `later ${i}` });
    await null;
    await insert;
  }
  assert.equal((await db.select().from(notes)).length, rounds);
});
