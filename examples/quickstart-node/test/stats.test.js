'use strict';
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { open, createSchema } = require('../app/db');
const stats = require('../app/stats');

test('jobs are counted by status', () => {
  // An in-memory database keeps this test fast.
  const db = open(':memory:');
  createSchema(db);
  db.prepare('INSERT INTO jobs (name) VALUES (?)').run('archive');
  assert.deepEqual(stats.countByStatus(':memory:'), { PENDING: 1 });
});
