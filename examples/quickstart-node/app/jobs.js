'use strict';
const { open } = require('./db');

function createJob(name) {
  const db = open();
  try {
    return db.prepare('INSERT INTO jobs (name) VALUES (?)').run(name).lastInsertRowid;
  } finally {
    db.close();
  }
}

function jobStatus(id) {
  const db = open();
  try {
    return db.prepare('SELECT status FROM jobs WHERE id = ?').get(id)?.status;
  } finally {
    db.close();
  }
}

function findJob(name) {
  const db = open();
  try {
    return db.prepare('SELECT id, status FROM jobs WHERE name = ?').get(name);
  } finally {
    db.close();
  }
}

module.exports = { createJob, jobStatus, findJob };
