'use strict';
const { open } = require('./db');

/** How many jobs are in each status, on the database `file`. */
function countByStatus(file) {
  const db = open(file);
  try {
    const counts = {};
    for (const row of db.prepare('SELECT status, count(*) AS n FROM jobs GROUP BY status').all()) counts[row.status] = row.n;
    return counts;
  } finally {
    db.close();
  }
}

module.exports = { countByStatus };
