'use strict';
const Database = require('better-sqlite3');

/** The jobs database: the file JOBS_DB names (the tests set it), else the development database. */
function open(file = process.env.JOBS_DB || 'jobs-dev.db') {
  return new Database(file);
}

function createSchema(db) {
  db.exec("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'PENDING')");
}

module.exports = { open, createSchema };
