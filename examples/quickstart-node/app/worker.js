'use strict';
const { open } = require('./db');

/** Marks a job FAILED. */
function markFailed(id) {
  const db = open();
  db.exec('BEGIN');
  db.prepare("UPDATE jobs SET status = 'FAILED' WHERE id = ?").run(id);
  db.close();
}

module.exports = { markFailed };
