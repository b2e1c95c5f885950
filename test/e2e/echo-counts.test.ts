// End to end: `txlens run` over a real pytest suite (test/fixtures/jobs_app),
// under SQLAlchemy 1.4 and 2.0, on a SQLite file and on PostgreSQL. txlens's
// summary must count exactly what SQLAlchemy's own logging reports for the
// same run (test/support/echo-log.ts explains how that log is read), the worker
// subprocess a test starts must be traced and attributed to that test, and every
// statement must point into the project's own code.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { before, describe, test } from 'node:test';
import { countEchoLog, type EchoCounts } from '../support/echo-log';
import { createDatabase, python, repoRoot, runCli, tempDir, type PythonEnvName } from '../support/env';
import { readProcessFiles, type RecordedLine } from '../support/trace-files';

/** What SQLAlchemy's PostgreSQL dialects run by themselves on an engine's first connect. */
const DIALECT_PROBE = /^(select pg_catalog\.version\(\)|select current_schema\(\)|show standard_conforming_strings|show transaction isolation level|select current_setting\('transaction_isolation'\))/i;

const fixtureSource = join(repoRoot, 'test', 'fixtures', 'jobs_app');

const WORKER_TESTS = [
  'tests/test_worker.py::test_worker_process_completes_job',
  'tests/test_worker.py::test_worker_that_never_commits_leaves_job_pending',
];
const FIXTURE_TEST_COUNT = 7;

function copyFixture(label: string): string {
  const dir = realpathSync(tempDir(`jobs-${label}`));
  cpSync(fixtureSource, dir, {
    recursive: true,
    filter: (src) => !/(__pycache__|\.pytest_cache|\.pyc$)/.test(src),
  });
  return dir;
}


function isInside(dir: string, file: string): boolean {
  let real = file;
  try {
    real = realpathSync(file);
  } catch {
    // not a file on disk ('<string>', a deleted temp module): compare as written
  }
  return real.startsWith(dir + sep);
}

async function databaseUrl(backend: 'sqlite' | 'postgres', project: string, label: string): Promise<string> {
  if (backend === 'sqlite') return `sqlite:///${join(project, 'jobs.db')}`;
  return createDatabase(`jobs_${label}`);
}

interface Outcome {
  project: string;
  report: { summary: Record<string, number>; trace: string };
  context: string;
  echo: ReturnType<typeof countEchoLog>;
  processes: RecordedLine[][];
}

for (const env of ['sa14', 'sa20'] as PythonEnvName[]) {
  for (const backend of ['sqlite', 'postgres'] as const) {
    describe(`jobs_app under ${env} on ${backend}`, () => {
      let outcome: Outcome | undefined;
      const ran = (): Outcome => {
        assert.ok(outcome, 'the traced run did not complete (see the first failure)');
        return outcome;
      };

      before(async () => {
        const label = `${env}_${backend}`;
        const project = copyFixture(label);
        const traceDir = join(tempDir(`trace-${label}`), 'run');
        const echoLog = join(project, 'echo.ndjson');
        const result = await runCli(['run', '--json', '--trace', traceDir, '--', python(env), '-m', 'pytest', '-q', 'tests'], {
          cwd: project,
          env: { JOBS_DATABASE_URL: await databaseUrl(backend, project, label), JOBS_ECHO_LOG: echoLog },
        });
        const context = `exit ${result.code}\n--- stderr (tail) ---\n${result.stderr.split('\n').slice(-30).join('\n')}`;
        // 1 is "an error-severity finding": the fixture holds a real missing commit.
        assert.ok(result.code === 0 || result.code === 1, `txlens run failed: ${context}`);
        const report = JSON.parse(result.stdout);
        outcome = { project, report, context, echo: countEchoLog(echoLog), processes: readProcessFiles(report.trace) };
      });

      test('the suite passes under txlens', () => {
        const { report, context } = ran();
        // This is about counting, not about the fixture's own asserts: they must hold first.
        const run = JSON.parse(readFileSync(join(report.trace, 'run.json'), 'utf8'));
        assert.equal(run.exitCode, 0, `pytest failed under txlens: ${context}`);
        assert.equal(report.summary.tests, FIXTURE_TEST_COUNT);
      });

      test('summary counts equal what SQLAlchemy echo logging reports', () => {
        const { report, echo } = ran();
        assert.ok(echo.total.statements > 0 && echo.total.sessions > 0, 'the echo log recorded nothing');
        const fromTxlens: EchoCounts = {
          sessions: report.summary.sessions,
          transactions: report.summary.transactions,
          commits: report.summary.commits,
          rollbacks: report.summary.rollbacks,
          statements: report.summary.statements,
        };
        // Only the dialect's first-connect probes run outside a logged transaction (see echo-log.ts).
        const probes = echo.outsideTransactionSql;
        assert.ok(
          probes.every((sql) => DIALECT_PROBE.test(sql)),
          `statements outside a transaction that are not dialect probes: ${probes.filter((sql) => !DIALECT_PROBE.test(sql)).join(' | ')}`,
        );
        const expected = { ...echo.total, statements: echo.total.statements - probes.length };
        const perProcess = [...echo.byPid].map(([pid, c]) => `  pid ${pid}: ${JSON.stringify(c)}`).join('\n');
        assert.deepEqual(
          fromTxlens,
          expected,
          `txlens summary vs SQLAlchemy echo log (echo per process:\n${perProcess}\n` +
            `statements outside a logged transaction: ${echo.outsideTransaction}; pool resets that rolled back: ${echo.poolResetRollbacks})`,
        );
      });

      test('each worker subprocess is traced and attributed to the test that started it', () => {
        const { processes, echo } = ran();
        assert.ok(processes.every((events) => events[0]?.k === 'header'), 'every process file starts with its header');
        const testIds = new Set(processes.flat().filter((e) => e.k === 'test_start').map((e) => e.id));
        for (const id of WORKER_TESTS) assert.ok(testIds.has(id), `no test_start for ${id}`);

        const workers = processes.filter((events) => events[0].argv?.some((a) => a.includes('app.worker')));
        assert.deepEqual(
          workers.map((events) => events[0].test).sort(),
          [...WORKER_TESTS].sort(),
          'one traced worker process per worker test, each with that test in its header',
        );
        for (const events of workers) {
          const { pid, test: owner } = events[0];
          assert.ok(
            events.some((e) => e.k === 'stmt' && /^\s*UPDATE jobs/i.test(e.sql ?? '')),
            `worker ${pid} (${owner}) has no UPDATE in its trace`,
          );
          assert.ok(echo.byPid.has(pid), `worker pid ${pid} is not in the echo log: not the same process`);
        }
      });

      test('every statement has a frame inside the project', () => {
        const { processes, project } = ran();
        const statements = processes.flat().filter((e) => e.k === 'stmt');
        assert.ok(statements.length > 0);
        const unlocated = statements.filter((e) => !e.at || !isInside(project, e.at[0]));
        assert.deepEqual(
          unlocated.map((e) => ({ pid: e.pid, sql: (e.sql ?? '').slice(0, 60), at: e.at })),
          [],
          'statements without a frame inside the project',
        );
      });
    });
  }
}
