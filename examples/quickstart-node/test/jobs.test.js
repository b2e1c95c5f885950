'use strict';
const assert = require('node:assert/strict');
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { before, test } = require('node:test');
const { open, createSchema } = require('../app/db');
const jobs = require('../app/jobs');
const worker = require('../app/worker');

// The tests' database: a fresh file for each run, outside the project.
before(() => {
  process.env.JOBS_DB = join(mkdtempSync(join(tmpdir(), 'jobs-')), 'test.db');
  const db = open();
  createSchema(db);
  db.close();
});

test('a new job is pending', () => {
  const id = jobs.createJob('nightly-report');
  assert.equal(jobs.jobStatus(id), 'PENDING');
});

test('a failed job is reported', () => {
  const id = jobs.createJob('send-invoices');
  worker.markFailed(id);
  assert.equal(jobs.jobStatus(id), 'FAILED');
});

test('a job added by the test is found by name', () => {
  const db = open();
  db.exec('BEGIN');
  db.prepare('INSERT INTO jobs (name) VALUES (?)').run('backfill');
  try {
    assert.equal(jobs.findJob('backfill')?.status, 'PENDING');
  } finally {
    db.close();
  }
});

test('a rerun job starts pending again', () => {
  const id = jobs.createJob('nightly-report');
  assert.equal(jobs.jobStatus(id), 'PENDING');
});
