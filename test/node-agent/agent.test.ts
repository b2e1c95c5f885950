// The Node agent in single processes, through the environment `txlens run`
// gives a command (src/capture/env.ts): how NODE_OPTIONS carries it, that it is
// inert where no hooked library loads, every form of a pg query against
// Postgres's own log, worker threads, source maps, ES modules, an internal
// fault, an unsupported driver version and a library build it hooks only in part.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { failureLine, line as traceLine, PARAMS_MODE, paramsRepr, type PendingEvent } from '../../src/agents/node/runtime';
import { nodePreload, traceEnv, withNodeAgent } from '../../src/capture/env';
import { repoRoot, tempDir } from '../support/env';
import { loggedDatabase, loggedStatements } from './pg-log';
import { loadModel } from '../../src/model/model';
import { agentDir, runTraced as runAgent, type NodeRun } from './node-run';
import { analyse } from '../../src/analysis/analyse';

const scripts = join(repoRoot, 'test', 'fixtures', 'node', 'scripts');

interface Line {
  k: string;
  conn?: string;
  sql?: string;
  tx?: string;
  cause?: string;
  action?: string;
  name?: string;
  /** A test's file and line (test_start). */
  file?: string;
  line?: number;
  outcome?: string;
  pool?: string;
  txOpen?: boolean;
  err?: { code?: string; type: string };
  at?: [string, number, string];
  message?: string;
  libs?: Record<string, string>;
  t?: number;
  pid?: number;
  th?: number;
  params?: unknown;
  rows?: number;
  dur?: number;
}

type Run = NodeRun<Line>;

/** Runs `node ARGS` in `cwd` with the environment `txlens run` would give it (the project's node_modules on NODE_PATH). */
function runTraced(cwd: string, args: string[], extra: NodeJS.ProcessEnv = {}, onStdout?: (text: string, kill: () => void) => void): Promise<Run> {
  return runAgent<Line>(cwd, args, { NODE_PATH: join(repoRoot, 'node_modules'), ...extra }, onStdout);
}

/** Write `lines` as the file `path` (its folder made first), each ending with a newline. */
function writeLines(path: string, lines: string[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, [...lines, ''].join('\n'));
}

function project(label: string): string {
  const dir = realpathSync(tempDir(`node-agent-${label}`));
  cpSync(scripts, dir, { recursive: true });
  return dir;
}

/**
 * Runs `node SCRIPT` traced in `dir` against a fresh logged database, checks it printed "done" and
 * that the trace's statements are, in order, the ones the server ran; gives the run and them.
 */
async function runLoggedPg(dir: string, script: string, database: string): Promise<{ run: Run; stmts: Line[]; url: string }> {
  const db = await loggedDatabase(database);
  const run = await runTraced(dir, [script], { DATABASE_URL: db.url });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'done\n');
  const stmts = run.lines.filter((l) => l.k === 'stmt');
  assert.deepEqual(
    stmts.map((s) => s.sql),
    (await loggedStatements(db)).sql,
    'the statements in the trace are, in order, the ones the server ran',
  );
  return { run, stmts, url: db.url };
}

describe('NODE_OPTIONS', () => {
  test("the preload is appended to the user's options, once, and quoted when its path needs it", () => {
    const preload = nodePreload('/opt/tx/agents');
    assert.equal(withNodeAgent(undefined, '/opt/tx/agents'), `--require ${preload}`);
    assert.equal(withNodeAgent('--max-old-space-size=512', '/opt/tx/agents'), `--max-old-space-size=512 --require ${preload}`);
    const twice = withNodeAgent(withNodeAgent('--enable-source-maps', '/opt/tx/agents'), '/opt/tx/agents');
    assert.equal(twice, `--enable-source-maps --require ${preload}`);
    assert.equal(withNodeAgent('', '/my tools/agents'), `--require "${nodePreload('/my tools/agents')}"`);
    const env = traceEnv({ NODE_OPTIONS: '--trace-warnings' }, { traceDir: '/tmp/x', workspace: '/tmp', agentDir: '/opt/tx/agents' });
    assert.equal(env.NODE_OPTIONS, `--trace-warnings --require ${preload}`);
  });

  test('a quoted preload path with a space is loaded by Node', async () => {
    const dir = join(realpathSync(tempDir('node-agent-space')), 'with space');
    // The preload and the agent it loads from beside it.
    cpSync(dirname(nodePreload(agentDir)), dirname(nodePreload(dir)), { recursive: true });
    const traceDir = join(dir, 'trace');
    const env = traceEnv({ ...process.env, NODE_PATH: join(repoRoot, 'node_modules'), NODE_OPTIONS: undefined }, { traceDir, workspace: dir, agentDir: dir });
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [join(scripts, 'sqlite-plain.js')], { cwd: dir, env, stdio: 'ignore' });
      child.on('close', resolve);
    });
    assert.equal(code, 0);
    assert.equal(readdirSync(traceDir).filter((f) => f.endsWith('.ndjson')).length, 1);
  });
});

describe("the agent's code cache", () => {
  /** The cache files in `dir`, with their contents. */
  const caches = (dir: string): Map<string, string> => new Map(readdirSync(dir).filter((f) => f.endsWith('.cache')).map((f) => [f, readFileSync(join(dir, f), 'latin1')]));

  test('is written by the first traced process, read by the next, rewritten when V8 rejects it, never in the cwd, and changes no trace', async () => {
    const dir = project('code-cache');
    const cacheDir = join(tempDir('node-agent-code-cache'), 'cache');
    const statements = (run: Run): (string | undefined)[] => run.lines.filter((l) => l.k === 'stmt').map((l) => l.sql);
    const first = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    const written = caches(cacheDir);
    assert.equal(written.size, 1, 'one cache, named by the agent build');
    assert.ok([...written.keys()][0].startsWith('agent.js-'));
    const second = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, '');
    assert.deepEqual(caches(cacheDir), written, 'a cache V8 took is left as it is');
    assert.ok(statements(first).length > 0);
    assert.deepEqual(statements(second), statements(first));
    // A cache V8 cannot use (torn, or from another build under the same name): a plain compile, said nowhere, and written anew.
    const [name] = written.keys();
    writeFileSync(join(cacheDir, name), 'not a code cache');
    const third = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(third.code, 0, third.stderr);
    assert.equal(third.stderr, '');
    assert.deepEqual(statements(third), statements(first));
    assert.notEqual(caches(cacheDir).get(name), 'not a code cache');
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.cache') || f.endsWith('.tmp')), 'nothing written where the test runs');
  });

  test('a process that recorded statements writes a second cache, with the hooks, which later processes read first', async () => {
    const dir = project('code-cache-statements');
    const cacheDir = join(tempDir('node-agent-code-cache-statements'), 'cache');
    const statements = (run: Run): (string | undefined)[] => run.lines.filter((l) => l.k === 'stmt').map((l) => l.sql);
    // The first process to write a cache hooked nothing (a test runner's parent, npm): the plain cache.
    const idle = await runTraced(dir, ['-e', '0'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(idle.code, 0, idle.stderr);
    assert.equal(idle.stderr, '');
    const plain = caches(cacheDir);
    assert.equal(plain.size, 1);
    const [plainName] = plain.keys();
    assert.ok(plainName.startsWith('agent.js-') && !plainName.endsWith('.statements.cache'), plainName);
    // The next records statements with the plain cache, which lacks the hooks: it writes the second.
    const first = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    assert.ok(statements(first).length > 0);
    const both = caches(cacheDir);
    assert.equal(both.size, 2, [...both.keys()].join(', '));
    assert.equal(both.get(plainName), plain.get(plainName), 'the plain cache is left as it was');
    const statementsName = [...both.keys()].find((f) => f.endsWith('.statements.cache'));
    assert.ok(statementsName !== undefined && statementsName.startsWith('agent.js-'));
    assert.ok(both.get(statementsName)!.length > plain.get(plainName)!.length, 'it holds more of the compiled agent than the plain one');
    const inode = statSync(join(cacheDir, statementsName)).ino;
    // Later processes take it, and write nothing, whether they record statements or not.
    const second = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, '');
    assert.deepEqual(statements(second), statements(first));
    const idleAgain = await runTraced(dir, ['-e', '0'], { TXLENS_CACHE_DIR: cacheDir });
    assert.equal(idleAgain.code, 0, idleAgain.stderr);
    assert.deepEqual(caches(cacheDir), both);
    assert.equal(statSync(join(cacheDir, statementsName)).ino, inode, 'not rewritten');
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.cache') || f.endsWith('.tmp')), 'nothing written where the test runs');
  });

  test('off: the agent loads the plain way and traces the same', async () => {
    const dir = project('code-cache-off');
    const run = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_CACHE_DIR: 'off' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.ok(run.lines.some((l) => l.k === 'stmt'));
  });
});

describe('trace lines', () => {
  test("statements, check-outs and check-ins are written field by field as JSON.stringify writes their events", () => {
    const frame: [string, number, string] = ['/work/app/a "b".js', 3, 'f'];
    const other: [string, number, string] = ['/work/app/sess.js', 9, '<anonymous>'];
    const events: PendingEvent[] = [
      { k: 'stmt', conn: 'c1', sql: 'SELECT "x" FROM t WHERE a = \'\\n\n\t\u2028\ud800 é\'', dur: 1234 },
      { k: 'stmt', conn: 'w2.c3', sql: 'select 1', dur: 5, sess: 's1', _alt: { frame: other }, tx: 't4', task: 2, params: [1, 'a"b', null, true, 1.5e300, '<Buffer 2 bytes>'], rows: 3 },
      { k: 'stmt', conn: 'c1', sql: 'x', dur: 0, sess: 's1', _alt: {}, tx: 't1', task: undefined, params: { a: 1, 'b"': [2] }, err: undefined, rows: 0 },
      { k: 'stmt', conn: 'c1', sql: 'x', dur: NaN, tx: undefined, task: undefined, params: undefined, err: { type: 'DatabaseError', message: 'bad "x"\n', code: '23505', detail: 'Key (a)=(1)' }, rows: undefined },
      { k: 'stmt', conn: 'c1', sql: '', dur: -0, rows: -1, at: frame },
      { k: 'stmt', conn: 'c1', sql: 'pair \ud83d\ude00 \u007f \\', dur: 1, params: ['q"', 'back\\slash', '\u0001', '\udc00', '\ud83d\ude00', -0, Infinity, NaN, false, undefined, null, { a: 'b' }, [1, '2'], 1e21, 2 ** 53] },
      { k: 'stmt', conn: 'c1', sql: 'x', dur: 1, params: [] },
      { k: 'stmt', conn: 'c2', sql: 'SELECT 1', dur: 7, pool: 'p1', task: 3 },
      { k: 'checkout', conn: 'c1', pool: 'p1' },
      { k: 'checkin', conn: 'c1', pool: 'p1', sess: 's2', _alt: { frame: other }, txOpen: true },
      { k: 'checkin', conn: 'c2', pool: 'p1' },
      { k: 'commit', conn: 'c1', tx: 't1' },
    ];
    for (const event of events) {
      for (const cs of event.at !== undefined ? [undefined] : [undefined, {}, { frame }]) {
        const written = traceLine({ ...event }, 42, cs);
        const at = cs === undefined ? undefined : (cs.frame ?? (event._alt as { frame?: unknown } | undefined)?.frame);
        const expected: Record<string, unknown> = { ...JSON.parse(JSON.stringify({ ...event, _alt: undefined })), t: 42, pid: process.pid, th: 0 };
        if (at !== undefined) expected.at = at;
        assert.deepStrictEqual(JSON.parse(written), expected, written);
        assert.ok(!written.includes('\n'), 'one line');
      }
    }
  });
});

describe("a failed test's message", () => {
  test('is its first line, with the values node:assert and jest put below it', () => {
    const failure = (fn: () => void): string => {
      try {
        fn();
      } catch (e) {
        return failureLine((e as Error).message);
      }
      throw new Error('did not fail');
    };
    // Node versions lay the values out differently ("'a' !== 'b'" or a diff): the values are there either way.
    const strict = failure(() => assert.strictEqual('PENDING', 'FAILED'));
    assert.match(strict, /^Expected values to be strictly equal: .*'PENDING'.*'FAILED'/);
    assert.ok(!strict.includes('+ actual - expected'), strict);
    assert.equal(failureLine("Expected values to be strictly equal:\n+ actual - expected\n\n+ 'PENDING'\n- 'FAILED'\n"), "Expected values to be strictly equal: actual 'PENDING', expected 'FAILED'");
    assert.match(failure(() => assert.deepStrictEqual({ status: 'PENDING' }, { status: 'FAILED' })), /^Expected values to be strictly deep-equal: .*status: 'PENDING'.*status: 'FAILED'/);
    assert.match(failure(() => assert.ok(false)), /^The expression evaluated to a falsy value: \S*ok\(false\)$/);
    // jest's matcher message as its workers write it to a terminal.
    const jest = '\u001b[2mexpect(\u001b[22m\u001b[31mreceived\u001b[39m\u001b[2m).\u001b[22mtoBe\u001b[2m(\u001b[22m\u001b[32mexpected\u001b[39m\u001b[2m) // Object.is equality\u001b[22m\n\nExpected: \u001b[32m"FAILED"\u001b[39m\nReceived: \u001b[31m"PENDING"\u001b[39m';
    assert.equal(failureLine(jest), 'expect(received).toBe(expected) // Object.is equality: Expected: "FAILED", Received: "PENDING"');
    assert.equal(failureLine("expected 'PENDING' to be 'FAILED' // Object.is equality"), "expected 'PENDING' to be 'FAILED' // Object.is equality", "vitest's says it all in one line");
    assert.equal(failureLine('UNIQUE constraint failed: jobs.name\n    at Statement.run'), 'UNIQUE constraint failed: jobs.name');
  });

  test("a Date parameter is written as its time, whichever realm made it (jest's test context is not the agent's)", () => {
    assert.equal(PARAMS_MODE, 'values', 'the tests run with the default parameters mode');
    const here = new Date(0);
    const jestRealm = runInNewContext('new Date(86400000)') as Date;
    assert.ok(!(jestRealm instanceof Date));
    assert.deepEqual(paramsRepr([here, jestRealm, runInNewContext('new Date(NaN)')]), ['1970-01-01T00:00:00.000Z', '1970-01-02T00:00:00.000Z', 'Invalid Date']);
    // A Date given alone is one parameter, not an object of fields.
    assert.deepEqual(paramsRepr(jestRealm), ['1970-01-02T00:00:00.000Z']);
  });
});

describe('the Node agent', () => {
  test('is inert in a process that loads no hooked library: no file, same output', async () => {
    const dir = project('inert');
    const run = await runTraced(dir, ['-e', "require('node:fs'); require('node:path'); console.log('hello')"]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, 'hello\n');
    assert.equal(run.stderr, '');
    assert.deepEqual(run.files, []);
  });

  test("records every form of pg query (a stream's through its cursor), savepoints, errors and the pool, as Postgres logs them", async () => {
    const dir = project('pg-forms');
    const { run, stmts, url } = await runLoggedPg(dir, 'pg-forms.js', 'node_forms');
    // Each statement points at the line of pg-forms.js that asked for it.
    const source = readFileSync(join(dir, 'pg-forms.js'), 'utf8').split('\n');
    for (const s of stmts) {
      assert.ok(s.at && s.at[0] === join(dir, 'pg-forms.js'), `${s.sql}: ${JSON.stringify(s.at)}`);
      const text = source[s.at[1] - 1];
      assert.ok(/query\(|connect\(/.test(text), `${s.sql} points at line ${s.at[1]}: ${text}`);
    }
    const kinds = run.lines.filter((l) => ['begin', 'commit', 'rollback', 'savepoint'].includes(l.k)).map((l) => (l.k === 'savepoint' ? `savepoint ${l.action} ${l.name}` : l.k));
    assert.deepEqual(kinds, ['begin', 'savepoint begin inner_step', 'savepoint rollback inner_step', 'rollback']);
    // COMMIT of a failed transaction is a rollback: the server answered ROLLBACK.
    assert.equal(run.lines.find((l) => l.k === 'rollback')?.cause, 'explicit');
    const failed = stmts.find((s) => s.err);
    assert.equal(failed?.err?.code, '42703');
    assert.equal(failed?.err?.type, 'DatabaseError');
    // A statement run by its name alone is recorded with the text it was prepared with (the server's log has it).
    assert.deepEqual(
      stmts.filter((s) => s.sql === 'SELECT id FROM forms WHERE note = $1').map((s) => s.params),
      [['values'], ['values'], ['values']],
    );
    // A stream's text and values are its cursor's (pg-query-stream): its statement was recorded with an empty text.
    assert.deepEqual(stmts.find((s) => s.sql === 'SELECT $1::int AS four')?.params, [4]);
    assert.equal(run.lines.filter((l) => l.k === 'connect').length, 2);
    // pool.query's check-out and check-in are its statement's (`pool`): the lines are pool.connect's and release's.
    const poolQueryLine = source.findIndex((l) => l.includes('pool.query(')) + 1;
    const pooled = stmts.filter((s) => s.pool !== undefined);
    assert.deepEqual(
      pooled.map((s) => [s.sql, s.at?.[1]]),
      [['SELECT count(*) FROM forms', poolQueryLine]],
    );
    const lineOf = (text: string): number => source.findIndex((l) => l.includes(text)) + 1;
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'checkout' || l.k === 'checkin').map((l) => [l.k, l.pool, l.txOpen, l.at?.[1]]),
      [
        ['checkout', pooled[0].pool, undefined, lineOf('pool.connect(')],
        ['checkin', pooled[0].pool, undefined, lineOf('c.release(')],
      ],
    );
    assert.ok(!JSON.stringify(run.lines).includes(new URL(url).password), 'the password is never written');
    assert.match(run.lines[0].libs?.pg ?? '', /^8\./);
  });

  test('a submittable that fails (pg.Query, pg-cursor, pg-query-stream) is recorded with its error, before what its error handler sends', async () => {
    // pg drops a failed submittable as its active query: no ReadyForQuery reaches it after its error,
    // and pg-query-stream's and pg-cursor's suites lost every stream that failed or was cancelled.
    const dir = project('pg-submittable-errors');
    const { run, stmts } = await runLoggedPg(dir, 'pg-submittable-errors.js', 'node_submittable_errors');
    assert.deepEqual(
      stmts.filter((s) => s.err).map((s) => [s.sql, s.err?.code, s.tx !== undefined]),
      [
        ['SELECT missing FROM subs', '42703', false],
        ['SELECT 1/0', '22012', true],
        ['SELECT pg_sleep(5)', '57014', false],
      ],
    );
    // Each at the line that sent it (the script's helper), not wherever pg was when the error came.
    const source = readFileSync(join(dir, 'pg-submittable-errors.js'), 'utf8').split('\n');
    const sent = source.findIndex((l) => l.includes('client.query(new pg.Query(')) + 1;
    assert.deepEqual(
      stmts.filter((s) => s.err).map((s) => s.at?.[1]),
      [sent, sent, sent],
    );
    // The ROLLBACK its handler sent ends the transaction BEGIN opened.
    assert.deepEqual(
      run.lines.filter((l) => ['begin', 'commit', 'rollback'].includes(l.k)).map((l) => l.k),
      ['begin', 'rollback'],
    );
  });

  test('a COMMIT that fails ends its transaction, even when pg reads the ReadyForQuery after the error', async () => {
    const dir = project('pg-commit-fails');
    const { run, stmts } = await runLoggedPg(dir, 'pg-commit-fails.js', 'node_commit_fails');
    const commit = stmts.find((s) => s.sql === 'COMMIT');
    assert.equal(commit?.err?.code, '23503');
    // The server rolled the transaction back: it ended there, and the client went back to the pool outside it.
    assert.deepEqual(
      run.lines.filter((l) => ['begin', 'commit', 'rollback', 'checkin'].includes(l.k)).map((l) => [l.k, l.tx === commit?.tx ? 'tx' : l.tx, l.cause, l.txOpen]),
      [
        ['begin', 'tx', undefined, undefined],
        ['rollback', 'tx', 'error', undefined],
        ['checkin', undefined, undefined, undefined],
      ],
    );
  });

  test('a statement its client was ended under, and one asked for after the end, are on that connection: no second connect', async () => {
    // Knex ends a connection whose query outlived its .timeout() (Objection's suite): the
    // statement fails once the close is written. It was read as a new connection, opened in
    // whichever test ran next and never closed.
    const dir = project('pg-end-under-query');
    const db = await loggedDatabase('node_end_under_query');
    const run = await runTraced(dir, ['pg-end-under-query.js'], { DATABASE_URL: db.url });
    assert.equal(run.code, 0, run.stderr);
    const seen = JSON.parse(run.stdout) as { asleep: string; after: string };
    assert.match(seen.asleep, /Connection terminated/);
    assert.notEqual(seen.after, 'ran');
    const conn = run.lines.find((l) => l.k === 'connect')?.conn;
    assert.deepEqual(
      run.lines.filter((l) => ['connect', 'stmt', 'close', 'begin'].includes(l.k)).map((l) => [l.k, l.conn === conn ? 'conn' : l.conn, l.sql, l.err ? 'err' : undefined]),
      [
        ['connect', 'conn', undefined, undefined],
        ['stmt', 'conn', 'SELECT 1', undefined],
        ['close', 'conn', undefined, undefined],
        ['stmt', 'conn', 'SELECT pg_sleep(5)', 'err'],
        ['stmt', 'conn', 'SELECT 2', 'err'],
      ],
    );
  });

  test("pool.query's check-out is written with its statement, its check-in only when the client goes back inside a transaction", async () => {
    const dir = project('pg-pool-query');
    const { run, stmts } = await runLoggedPg(dir, 'pg-pool-query.js', 'node_pool_query');
    const source = readFileSync(join(dir, 'pg-pool-query.js'), 'utf8').split('\n');
    const lineOf = (text: string): number => source.findIndex((l) => l.includes(text)) + 1;
    // Every statement, the failed one too, carries its one-statement check-out, of the one pool. pg-pool
    // destroys a client whose statement failed: the last statement runs on a new one.
    assert.ok(stmts.every((s) => typeof s.pool === 'string' && s.pool === stmts[0].pool));
    assert.deepEqual(
      stmts.map((s) => s.conn === stmts[0].conn),
      [true, true, true, true, true, false],
    );
    assert.equal(stmts[4].err?.code, '42703');
    assert.equal(run.lines.filter((l) => l.k === 'checkout').length, 0, 'no check-out line of its own');
    // The client went back to the pool twice inside the transaction BEGIN opened: after BEGIN and after SELECT 2.
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'checkin').map((l) => [l.txOpen, l.at?.[1]]),
      [
        [true, lineOf("'BEGIN'")],
        [true, lineOf("'SELECT 2")],
      ],
    );
    // The model gives each connection a check-out per statement, at its line, and the two check-ins in a transaction.
    const model = loadModel(run.traceDir);
    assert.deepEqual(
      model.connections.map((c) => c.checkouts.map((k) => k.at?.[1])),
      [stmts.slice(0, 5).map((s) => s.at?.[1]), [stmts[5].at?.[1]]],
    );
    assert.deepEqual(
      model.connections.map((c) => c.releasedInTransaction.map((r) => r.at?.[1])),
      [[lineOf("'BEGIN'"), lineOf("'SELECT 2")], []],
    );
    // BEGIN through pool.query, the same function going on inside it on the client handed back: a warning at the BEGIN.
    const released = analyse(model).findings.filter((f) => f.rule === 'pool-release-in-transaction');
    assert.deepEqual(
      released.map((f) => [f.severity, f.location.line]),
      [['warning', lineOf("'BEGIN'")]],
      JSON.stringify(released),
    );
  });

  test("pool.query's check-out goes with its own statement, not one its client still ran for the caller who released it", async () => {
    // pg-query-stream's suite releases a client whose stream's close is not answered yet: the
    // pool.query that gets the client next queues behind it, and the stream ended first.
    const dir = project('pg-pool-query-behind');
    writeLines(
      join(dir, 'behind.js'),
      [
        "const pg = require('pg');",
        'async function main() {',
        '  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });',
        '  const client = await pool.connect();',
        "  const still = client.query('SELECT pg_sleep(0.05)');",
        '  client.release();',
        "  await pool.query('SELECT 2 AS two');",
        '  await still;',
        '  await pool.end();',
        "  console.log('done');",
        '}',
        'main();',
      ],
    );
    const { run, stmts } = await runLoggedPg(dir, 'behind.js', 'node_pool_query_behind');
    assert.deepEqual(
      stmts.map((s) => [s.sql, s.pool !== undefined, s.at?.[1]]),
      [
        ['SELECT pg_sleep(0.05)', false, 5],
        ['SELECT 2 AS two', true, 7],
      ],
    );
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'checkout' || l.k === 'checkin').map((l) => [l.k, l.at?.[1]]),
      [
        ['checkout', 4],
        ['checkin', 6],
      ],
    );
  });

  test("a client the pool opens for a queued caller (from a later tick, no caller's frame on the stack) is connected at that caller's line", async () => {
    // Kysely's introspection runs its queries at once (Promise.all) on a pool with one idle client:
    // pg-pool queues them and opens the others from process.nextTick (kysely-codegen's suite: 20 of
    // 28 connections had no line). Both hand-overs: pool.connect's promise and pool.query's callback.
    const dir = project('pg-pool-queued');
    const db = await loggedDatabase('node_pool_queued');
    const run = await runTraced(dir, ['pg-pool-queued-connect.js'], { DATABASE_URL: db.url });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'done\n');
    // Sorted: statements that run at once on several connections end in any order.
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => l.sql).sort(),
      (await loggedStatements(db)).sql.sort(),
      'the statements in the trace are the ones the server ran',
    );
    const source = readFileSync(join(dir, 'pg-pool-queued-connect.js'), 'utf8').split('\n');
    const lineOf = (text: string): number => source.findIndex((l) => l.includes(text)) + 1;
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect').map((l) => [l.conn, l.at?.[1]]),
      [
        ['c1', lineOf("'SELECT 1 AS warm'")],
        ['c2', lineOf('pool.connect(), pool.connect()')],
        ['c3', lineOf('pool.connect(), pool.connect()')],
        ['c4', lineOf("'SELECT 5 AS five'")],
      ],
    );
  });

  test("vitest 4's vm pools: pg evaluated by the loader vitest defines on the test file's context is traced; a vm pool whose loader is not found says so", async () => {
    // kysely-codegen's suite under --pool=vmForks traced 12 of its 493 statements (those of the CLI
    // processes it starts), and under vmThreads as few, with nothing said.
    const dir = project('vitest4-vm');
    const workers = join(dir, 'node_modules', 'vitest', 'dist', 'workers');
    mkdirSync(workers, { recursive: true });
    cpSync(join(dir, 'vitest4-vm-worker.js'), join(workers, 'vmForks.js'));
    const worker = join('node_modules', 'vitest', 'dist', 'workers', 'vmForks.js');
    const { run } = await runLoggedPg(dir, worker, 'node_vitest4_vm');
    assert.deepEqual(
      run.lines.filter((l) => ['test_start', 'stmt', 'test_end'].includes(l.k)).map((l) => [l.k, l.sql ?? l.name ?? l.outcome]),
      [
        ['test_start', 'reads one'],
        ['stmt', 'SELECT 1 AS one'],
        ['test_end', 'passed'],
      ],
    );
    assert.doesNotMatch(run.stderr, /vm pools/);
    // A vm pool whose loader the agent did not find: its statements go untraced, and it says so.
    const db = await loggedDatabase('node_vitest4_vm_unhooked');
    const unhooked = await runTraced(dir, [worker, 'no-loader'], { DATABASE_URL: db.url });
    assert.equal(unhooked.code, 0, unhooked.stderr);
    assert.deepEqual(
      unhooked.lines.filter((l) => l.k === 'stmt'),
      [],
    );
    assert.match(unhooked.stderr, /txlens: vitest vm pools \(module loader not found\) is not supported/);
  });

  test('gives each worker thread its own file and ids', async () => {
    const dir = project('worker');
    const run = await runTraced(dir, ['sqlite-worker.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'worker exited 0\n');
    assert.equal(run.files.length, 2, run.files.join(', '));
    const conns = run.lines.filter((l) => l.k === 'connect').map((l) => l.conn).sort();
    assert.deepEqual(conns, ['c1', 'w1.c1']);
    assert.equal(run.lines.filter((l) => l.k === 'stmt').length, 6);
  });

  test('a worker thread terminated on its answer keeps what it traced before answering', async () => {
    const dir = project('worker-terminated');
    const run = await runTraced(dir, ['sqlite-worker-terminated.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'worker counted 1\nworker terminated 1\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.conn, l.sql]),
      [
        ['w1.c1', undefined],
        ['w1.c1', 'CREATE TABLE t (who TEXT)'],
        ['w1.c1', 'INSERT INTO t VALUES (?)'],
        ['w1.c1', 'SELECT count(*) AS n FROM t'],
      ],
    );
  });

  test('a worker thread that throws keeps its outcome and its trace', async () => {
    const dir = project('worker-throws');
    const plain = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['sqlite-worker-throws.js'], { cwd: dir, env: { ...process.env, NODE_PATH: join(repoRoot, 'node_modules'), NODE_OPTIONS: undefined } });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', () => resolve(out));
    });
    const run = await runTraced(dir, ['sqlite-worker-throws.js']);
    assert.equal(run.stdout, plain);
    assert.equal(run.stdout, 'worker failed: boom\nworker exited 1\n');
    assert.deepEqual(run.lines.filter((l) => l.k === 'stmt').map((l) => [l.conn, l.sql]), [['w1.c1', 'SELECT 1']]);
  });

  test('a process ended by SIGTERM still dies of it, with its buffered events written', async () => {
    const dir = project('sigterm');
    const run = await runTraced(dir, ['sqlite-hangs.js'], {}, (out, kill) => {
      if (out.includes('ready')) kill();
    });
    assert.equal(run.signal, 'SIGTERM');
    assert.deepEqual(
      run.lines.filter((l) => l.k !== 'header').map((l) => (l.k === 'rollback' ? `rollback ${l.cause}` : l.k)),
      ['connect', 'stmt', 'begin', 'stmt', 'stmt', 'rollback exit'],
    );
  });

  test('maps statements to TypeScript lines through source maps', async () => {
    const dir = project('typed');
    await build({ entryPoints: [join(dir, 'sqlite-typed.ts')], outfile: join(dir, 'out', 'sqlite-typed.js'), platform: 'node', format: 'cjs', sourcemap: true, logLevel: 'silent' });
    const run = await runTraced(dir, ['--enable-source-maps', join('out', 'sqlite-typed.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '0\n');
    const at = run.lines.filter((l) => l.k === 'stmt' || l.k === 'connect').map((l) => [l.k, l.at?.[0], l.at?.[1]]);
    const ts = join(dir, 'sqlite-typed.ts');
    assert.deepEqual(at, [
      ['connect', ts, 9],
      ['stmt', ts, 10],
      ['stmt', ts, 11],
    ]);
  });

  test("maps statements to TypeScript lines through the map a compiled file names, without --enable-source-maps", async () => {
    // A suite compiled by tsc and run from its output (TypeORM's): Node keeps no map, the file's comment names one.
    for (const sourcemap of [true, 'inline'] as const) {
      const dir = project(`typed-${sourcemap}`);
      await build({ entryPoints: [join(dir, 'sqlite-typed.ts')], outfile: join(dir, 'out', 'sqlite-typed.js'), platform: 'node', format: 'cjs', sourcemap, logLevel: 'silent' });
      const run = await runTraced(dir, [join('out', 'sqlite-typed.js')]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, '0\n');
      const at = run.lines.filter((l) => l.k === 'stmt' || l.k === 'connect').map((l) => [l.k, l.at?.[0], l.at?.[1]]);
      const ts = join(dir, 'sqlite-typed.ts');
      assert.deepEqual(at, [
        ['connect', ts, 9],
        ['stmt', ts, 10],
        ['stmt', ts, 11],
      ], `sourcemap: ${sourcemap}`);
    }
  });

  test("pg and pg-pool loaded from a workspace's packages/ (node-postgres's own suites): hooked as in node_modules", async () => {
    // A yarn workspace links packages/pg into node_modules, and Node loads it by its real path,
    // outside node_modules: pg-cursor's, pg-pool's and pg-query-stream's suites (each run in its
    // own package, the workspace's packages/pg-cursor) traced nothing.
    const dir = project('pg-workspace');
    const checkout = realpathSync(tempDir('pg-workspace-checkout'));
    const real = join(repoRoot, 'node_modules');
    mkdirSync(join(dir, 'node_modules'));
    mkdirSync(join(checkout, 'node_modules'));
    for (const [name, parts] of [
      ['pg', ['package.json', 'lib']],
      ['pg-pool', ['package.json', 'index.js']],
    ] as const) {
      for (const part of parts) cpSync(join(real, name, part), join(checkout, 'packages', name, part), { recursive: true });
      // The workspace's links: pg finds its pool there, the app (standing for a package's suite) its pg.
      symlinkSync(join(checkout, 'packages', name), join(checkout, 'node_modules', name), 'dir');
      symlinkSync(join(checkout, 'packages', name), join(dir, 'node_modules', name), 'dir');
    }
    writeLines(
      join(dir, 'app.js'),
      [
        "const pg = require('pg');",
        'async function main() {',
        '  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });',
        "  await pool.query('SELECT 1 AS one');",
        '  const client = await pool.connect();',
        "  await client.query('SELECT 2 AS two');",
        '  client.release();',
        '  await pool.end();',
        "  console.log('done');",
        '}',
        'main();',
      ],
    );
    const { run, stmts } = await runLoggedPg(dir, 'app.js', 'node_pg_workspace');
    assert.deepEqual(
      run.lines.filter((l) => ['connect', 'checkout', 'stmt', 'checkin'].includes(l.k)).map((l) => [l.k, l.at?.[1]]),
      [
        ['connect', 4],
        ['stmt', 4],
        ['checkout', 5],
        ['stmt', 6],
        ['checkin', 7],
      ],
    );
    assert.equal(stmts[0].pool !== undefined, true, "pool.query's check-out is its statement's");
  });

  test('maps statements to TypeScript lines through the map a require hook compiled in memory (ts-node), without --enable-source-maps', async () => {
    // ts-node hands Module#_compile its output with the map inline at its end; the .ts file on disk has no
    // map comment. pg-query-stream's suite (mocha + ts-node) was cited at the compiled code's lines.
    const dir = project('require-hook-map');
    writeLines(
      join(dir, 'register.js'),
      [
        "const { transformSync } = require('esbuild');",
        "const { readFileSync } = require('node:fs');",
        "require.extensions['.ts'] = function (m, filename) {",
        "  const banner = '// compiled\\n// in memory\\n// by a\\n// require hook';",
        "  const out = transformSync(readFileSync(filename, 'utf8'), { loader: 'ts', format: 'cjs', sourcemap: 'inline', sourcefile: filename, banner });",
        '  m._compile(out.code, filename);',
        '};',
      ],
    );
    writeLines(
      join(dir, 'app.ts'),
      [
        "import Database from 'better-sqlite3';",
        'interface Row { one: number }',
        "const db = new Database(':memory:');",
        "const row = db.prepare('SELECT 1 AS one').get() as Row;",
        'console.log(row.one);',
      ],
    );
    const run = await runTraced(dir, ['-r', './register.js', 'app.ts']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '1\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.k, l.at?.[0], l.at?.[1]]),
      [
        ['connect', join(dir, 'app.ts'), 3],
        ['stmt', join(dir, 'app.ts'), 4],
      ],
    );
  });

  test('sees drivers an ES module imports', async () => {
    const dir = project('esm');
    // ES modules resolve packages from node_modules folders only (no NODE_PATH).
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'app.mjs'), "import Database from 'better-sqlite3';\nconst db = new Database(':memory:');\nconsole.log(db.prepare('SELECT 1 AS one').get().one);\n");
    const run = await runTraced(dir, ['app.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '1\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.k, l.at?.[1]]),
      [
        ['connect', 2],
        ['stmt', 3],
      ],
    );
  });

  test('thousands of pool and client statements across many buffer writes: each event once, in order, at its line', async () => {
    // The agent captures a statement's line once pg has sent it, and serializes the events before it
    // then: a write of the buffer never comes between an event and the line it waits for.
    const dir = project('many');
    writeLines(
      join(dir, 'many.js'),
      [
        "const { Pool } = require('pg');",
        'const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });',
        'async function viaPool(i) { return pool.query("SELECT $1::int AS n", [i]); }',
        'async function inBlock(client, i) { return client.query("SELECT $1::int AS n", [i]); }',
        'async function main() {',
        '  for (let i = 0; i < 1100; i++) await viaPool(i);',
        '  const client = await pool.connect();',
        '  await client.query("BEGIN");',
        '  await client.query("savepoint sp1");',
        '  for (let i = 0; i < 500; i++) await inBlock(client, i);',
        '  await client.query("release savepoint sp1");',
        '  await client.query("ROLLBACK");',
        '  client.release();',
        '  await pool.end();',
        '  console.log("done");',
        '}',
        'main().catch((e) => { console.error(e); process.exit(1); });',
      ],
    );
    const { run, stmts } = await runLoggedPg(dir, 'many.js', 'node_many');
    const file = join(dir, 'many.js');
    const where = (l: Line): string => (l.at?.[0] === file ? `${l.at[1]} ${l.at[2]}` : JSON.stringify(l.at));
    // pool.query's check-out and check-in are its statement's (`pool`): one line each.
    const poolEvents = run.lines.filter((l) => l.k === 'checkout' || l.k === 'stmt' || l.k === 'checkin').slice(0, 1100 + 1);
    const expectedPool = [...Array(1100).fill('stmt 3 viaPool'), 'checkout 7 main'];
    assert.deepEqual(poolEvents.map((l) => `${l.k} ${where(l)}`), expectedPool);
    assert.deepEqual(
      stmts.slice(1100).map((s) => `${s.sql} ${where(s)}`),
      ['BEGIN 8 main', 'savepoint sp1 9 main', ...Array(500).fill('SELECT $1::int AS n 4 inBlock'), 'release savepoint sp1 11 main', 'ROLLBACK 12 main'],
    );
    const kinds = run.lines.filter((l) => ['begin', 'commit', 'rollback', 'savepoint'].includes(l.k)).map((l) => (l.k === 'savepoint' ? `savepoint ${l.action} ${l.name}` : l.k));
    assert.deepEqual(kinds, ['begin', 'savepoint begin sp1', 'savepoint release sp1', 'rollback']);
    const times = run.lines.filter((l) => l.k !== 'header').map((l) => (l as { t?: number }).t ?? -1);
    assert.ok(
      times.every((t, i) => t >= 0 && (i === 0 || t >= times[i - 1])),
      'every event is written once, in the order it happened',
    );
  });

  test('a statement recorded while its own send is still under way fills the buffer: written as soon as its line is known, every event at its line', async () => {
    // pg hands a Submittable to its submit() synchronously, inside client.query, before the agent has
    // captured the statement's line (it does that once the statement is sent). One that turns itself
    // down right there is recorded then, with its line still to come: the buffer reaching its flush
    // size at that event must wait for the line, and be written as soon as the line is there.
    const dir = project('flush-guard');
    writeLines(
      join(dir, 'guard.js'),
      [
        "const { readdirSync, readFileSync } = require('node:fs');",
        "const { Client } = require('pg');",
        "const Database = require('better-sqlite3');",
        'class Refused {',
        '  constructor(text) { this.text = text; }',
        "  submit() { const err = new Error('refused before sending'); this.handleError(err); this.handleReadyForQuery(); return err; }",
        '  handleError() {}',
        '  handleReadyForQuery() {}',
        '}',
        'function written() {',
        '  const dir = process.env.TXLENS_TRACE_DIR;',
        "  return readdirSync(dir).flatMap((f) => readFileSync(`${dir}/${f}`, 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l)));",
        '}',
        'async function main() {',
        '  const client = new Client({ connectionString: process.env.DATABASE_URL });',
        '  await client.connect();',
        "  await client.query('SELECT 1');",
        "  const one = new Database(':memory:').prepare('SELECT 1 AS one');",
        '  one.get();',
        '  // Whatever is buffered is written by the flush timer meanwhile.',
        '  await new Promise((resolve) => setTimeout(resolve, 300));',
        '  const before = written().length;',
        '  // In one synchronous run: 1023 events, then the refused statement as the 1024th, the flush size.',
        '  for (let i = 0; i < 1023; i++) one.get();',
        "  client.query(new Refused('SELECT 2 /* refused */'));",
        '  const after = written();',
        '  console.log(JSON.stringify({ before, after: after.length, refused: after.find((e) => e.k === "stmt" && /refused/.test(e.sql)) ?? null }));',
        '  await new Promise((resolve) => setImmediate(resolve));',
        '  await client.end();',
        '}',
        'main().catch((e) => { console.error(e); process.exit(1); });',
      ],
    );
    const db = await loggedDatabase('node_flush_guard');
    const run = await runTraced(dir, ['guard.js'], { DATABASE_URL: db.url });
    assert.equal(run.code, 0, run.stderr);
    const seen = JSON.parse(run.stdout) as { before: number; after: number; refused: Line | null };
    assert.equal(seen.after - seen.before, 1024, 'the 1024 events are written when client.query returns, not later');
    const file = join(dir, 'guard.js');
    assert.deepEqual(seen.refused?.at, [file, 25, 'main'], 'the refused statement is written with its line');
    assert.equal(seen.refused?.err?.type, 'Error');
    const stmts = run.lines.filter((l) => l.k === 'stmt');
    assert.equal(stmts.length, 1 + 1 + 1023 + 1);
    assert.deepEqual(
      [...new Set(stmts.map((s) => (s.at?.[0] === file ? `${s.at[1]} ${s.at[2]}` : JSON.stringify(s.at))))],
      ['17 main', '19 main', '24 main', '25 main'],
      'every statement at its line',
    );
  });

  test('a statement reached through library frames after many direct ones still names its own line, and so do the direct ones after it', async () => {
    // The agent captures as few frames as the deepest user frame seen so far needs: a call from
    // deeper down must still be found (and the depth grow), and the direct calls keep their lines.
    const dir = project('depth');
    const helper = join(dir, 'node_modules', 'query-helper');
    mkdirSync(helper, { recursive: true });
    writeFileSync(
      join(helper, 'index.js'),
      ['exports.one = (stmt) => stmt.get();', 'exports.three = (stmt) => inner(stmt);', 'function inner(stmt) { return innermost(stmt); }', 'function innermost(stmt) { return stmt.get(); }', ''].join('\n'),
    );
    writeLines(
      join(dir, 'app.js'),
      [
        "const Database = require('better-sqlite3');",
        "const helper = require('query-helper');",
        "const db = new Database(':memory:');",
        "const stmt = db.prepare('SELECT 1 AS one');",
        'function direct() { return stmt.get(); }',
        'function viaOne() { return helper.one(stmt); }',
        'function viaThree() { return helper.three(stmt); }',
        'for (let i = 0; i < 50; i++) direct();',
        'viaOne(); viaThree();',
        'for (let i = 0; i < 3; i++) { direct(); viaThree(); }',
      ],
    );
    const run = await runTraced(dir, ['app.js']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.lines.filter((l) => l.k === 'stmt').map((l) => `${l.at?.[0] === join(dir, 'app.js') ? '' : l.at?.[0]}${l.at?.[1]} ${l.at?.[2]}`);
    const expected = [...Array(50).fill('5 direct'), '6 viaOne', '7 viaThree', ...Array(3).fill(['5 direct', '7 viaThree']).flat()];
    assert.deepEqual(lines, expected);
  });

  test("a statement an ORM runs thirty frames below the app's call, through its own awaits (MikroORM's em.flush), is at the app's line", async () => {
    // MikroORM's unit of work reaches the driver some 28 frames below em.flush(), every one of them a
    // native await, so V8's async stack holds the app's line: the agent must look that deep.
    const dir = project('async-depth');
    const orm = join(dir, 'node_modules', 'deep-orm');
    mkdirSync(orm, { recursive: true });
    writeLines(
      join(orm, 'index.js'),
      [
        'async function step(depth, run) { if (depth === 0) { await null; return run(); } return await step(depth - 1, run); }',
        'exports.flush = async (stmt) => await step(30, () => stmt.get());',
      ],
    );
    writeLines(
      join(dir, 'app.js'),
      [
        "const Database = require('better-sqlite3');",
        "const orm = require('deep-orm');",
        "const stmt = new Database(':memory:').prepare('SELECT 1 AS one');",
        'async function save() { await orm.flush(stmt); }',
        'async function main() { stmt.get(); await save(); await orm.flush(stmt); }',
        'main();',
      ],
    );
    const run = await runTraced(dir, ['app.js']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.lines.filter((l) => l.k === 'stmt').map((l) => (l.at?.[0] === join(dir, 'app.js') ? `${l.at[1]} ${l.at[2]}` : JSON.stringify(l.at)));
    assert.deepEqual(lines, ['5 main', '4 save', '5 main']);
  });

  test("a Knex builder an ORM builds where no line of the app is in reach leaves the driver to find the line: the app's, through the ORM's awaits", async () => {
    // MikroORM builds its Knex queries deep in its unit of work; the builder's own capture finds no
    // app line there, but the statement's stack, through the ORM's native awaits, holds the app's call.
    const dir = project('knex-deep-builder');
    const orm = join(dir, 'node_modules', 'mini-orm');
    mkdirSync(orm, { recursive: true });
    writeLines(
      join(orm, 'index.js'),
      [
        'function deep(n, build) { return n === 0 ? build() : deep(n - 1, build); }',
        'exports.save = async (knex, row) => { await null; const query = deep(50, () => knex("t").insert(row)); return await query; };',
      ],
    );
    writeLines(
      join(dir, 'app.js'),
      [
        "const knex = require('knex')({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });",
        "const orm = require('mini-orm');",
        'async function main() {',
        "  await knex.schema.createTable('t', (t) => t.integer('a'));",
        '  await orm.save(knex, { a: 1 });',
        '  await knex.destroy();',
        '}',
        'main();',
      ],
    );
    const run = await runTraced(dir, ['app.js']);
    assert.equal(run.code, 0, run.stderr);
    const insert = run.lines.find((l) => l.k === 'stmt' && /^insert/i.test(String(l.sql)));
    assert.deepEqual(insert?.at?.slice(0, 2), [join(dir, 'app.js'), 5], JSON.stringify(insert));
  });

  test("a monorepo testing its published packages (MikroORM's tests/ through packages/*/src): a statement's line is the test's; an app's own package's line, private or not, stays the user's", async () => {
    // The ORM package builds its Knex query fifty frames deep: the builder's only lines are the
    // package's own, so the driver, through the package's awaits, finds the test's line.
    const dir = project('workspace-packages');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'root', private: true, workspaces: ['packages/*'] }));
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), "packages:\n  - 'apps/*'\n");
    const orm = join(dir, 'packages', 'mini-orm');
    writeLines(join(orm, 'package.json'), [JSON.stringify({ name: 'mini-orm', version: '6.0.0', main: 'dist/index.js', publishConfig: { access: 'public' } })]);
    writeLines(
      join(orm, 'src', 'index.js'),
      [
        'function deep(n, build) { return n === 0 ? build() : deep(n - 1, build); }',
        'exports.save = async (knex, row) => { await null; const query = deep(50, () => knex("t").insert(row)); return await query; };',
      ],
    );
    const db = join(dir, 'packages', 'app-db');
    writeLines(join(db, 'package.json'), [JSON.stringify({ name: 'app-db', private: true })]);
    writeLines(join(db, 'index.js'), ['exports.count = async (knex) => {', "  return await knex('t').count({ n: '*' });", '};']);
    // Not private, but nothing says it is published (no publishConfig, files or repository): an app's package.
    const jobs = join(dir, 'packages', 'app-jobs');
    writeLines(join(jobs, 'package.json'), [JSON.stringify({ name: '@app/jobs', version: '1.0.0', main: 'index.js' })]);
    writeLines(join(jobs, 'index.js'), ['exports.clear = async (knex) => {', "  return await knex('t').del();", '};']);
    writeLines(
      join(dir, 'tests', 'orm.test.js'),
      [
        "const knex = require('knex')({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });",
        "const orm = require('../packages/mini-orm/src');",
        "const db = require('../packages/app-db');",
        "const jobs = require('../packages/app-jobs');",
        'async function main() {',
        "  await knex.schema.createTable('t', (t) => t.integer('a'));",
        '  await orm.save(knex, { a: 1 });',
        '  await db.count(knex);',
        '  await jobs.clear(knex);',
        '  await knex.destroy();',
        '}',
        'main();',
      ],
    );
    const run = await runTraced(dir, [join('tests', 'orm.test.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => [String(l.sql).split(' ')[0], relative(dir, l.at?.[0] ?? ''), l.at?.[1]]),
      [
        ['create', join('tests', 'orm.test.js'), 6],
        ['insert', join('tests', 'orm.test.js'), 7],
        ['select', join('packages', 'app-db', 'index.js'), 2],
        ['delete', join('packages', 'app-jobs', 'index.js'), 2],
      ],
    );
  });

  test("jest 27 to 30.2 with a custom runtime (jest's `runtime` option, @side/jest-runtime) whose _execModule is its own: the modules it runs are hooked", async () => {
    // Runtime as jest 29 lays it out: requireModule runs a module's body through this._execModule.
    const dir = project('jest-custom-runtime');
    const jestRuntime = join(dir, 'node_modules', 'jest-runtime');
    writeLines(join(jestRuntime, 'package.json'), [JSON.stringify({ name: 'jest-runtime', version: '29.7.0', main: 'build/index.js' })]);
    writeLines(
      join(jestRuntime, 'build', 'index.js'),
      [
        'class Runtime {',
        '  requireModule(from, file) { const module = { filename: file, exports: {} }; this._execModule(module); return module.exports; }',
        "  _execModule(module) { module.exports = require(module.filename); }",
        '}',
        'exports.default = Runtime;',
      ],
    );
    // The custom runtime compiles and runs each module itself, never calling Runtime's _execModule.
    writeLines(
      join(dir, 'custom-runtime.js'),
      [
        "const { readFileSync } = require('node:fs');",
        "const { createRequire } = require('node:module');",
        "const { dirname } = require('node:path');",
        "const { compileFunction } = require('node:vm');",
        "const Runtime = require('jest-runtime').default;",
        'module.exports = class CompileFunctionRuntime extends Runtime {',
        '  _execModule(module) {',
        "    const fn = compileFunction(readFileSync(module.filename, 'utf8'), ['module', 'exports', 'require', '__dirname', '__filename'], { filename: module.filename });",
        '    fn.call(module.exports, module, module.exports, createRequire(module.filename), dirname(module.filename), module.filename);',
        '  }',
        '};',
      ],
    );
    writeLines(
      join(dir, 'sandboxed.js'),
      [
        "const Runtime = require('./custom-runtime');",
        'const runtime = new Runtime();',
        "const Client = runtime.requireModule(__filename, require.resolve('pg/lib/client.js'));",
        'async function main() {',
        '  const client = new Client({ connectionString: process.env.DATABASE_URL });',
        '  await client.connect();',
        "  await client.query('SELECT 1 AS one');",
        '  await client.end();',
        "  console.log('done');",
        '}',
        'main();',
      ],
    );
    const { stmts } = await runLoggedPg(dir, 'sandboxed.js', 'node_agent_jest_custom_runtime');
    assert.deepEqual(
      stmts.map((s) => [s.sql, s.at?.[1]]),
      [['SELECT 1 AS one', 7]],
    );
  });

  test('an anonymous function called again and again from one line is named by its receiver each time, and every line keeps its fields', async () => {
    // Sites in anonymous functions are looked up by position and by the method name the receiver
    // gives them, since the same function may be called as two methods, or as none.
    const dir = project('anonymous');
    writeLines(
      join(dir, 'app.js'),
      [
        "const Database = require('better-sqlite3');",
        "const db = new Database(':memory:');",
        "const stmt = db.prepare('SELECT ? AS n');",
        'function make() { return function () { return stmt.get(7); }; }',
        'const one = {};',
        'one.first = make();',
        'const two = { second: one.first };',
        'const bare = one.first;',
        "const inTx = db.transaction((n) => stmt.get(n));",
        'for (let i = 0; i < 20; i++) { one.first(); two.second(); bare(); inTx(i); }',
      ],
    );
    const run = await runTraced(dir, ['app.js']);
    assert.equal(run.code, 0, run.stderr);
    const app = join(dir, 'app.js');
    const stmts = run.lines.filter((l) => l.k === 'stmt');
    const names = stmts.map((l) => `${l.at?.[0] === app ? '' : l.at?.[0]}${l.at?.[1]} ${l.at?.[2]}`);
    // BEGIN and COMMIT of db.transaction() come from better-sqlite3's own frames: the line that called the transaction.
    const round = ['4 first', '4 second', '4 <anonymous>', '10 <anonymous>', '9 <anonymous>', '10 <anonymous>'];
    assert.deepEqual(names, Array(20).fill(round).flat());
    const header = run.lines.find((l) => l.k === 'header');
    let last = 0;
    for (const l of run.lines.filter((l) => l.k !== 'header')) {
      assert.equal(l.pid, header?.pid);
      assert.equal(l.th, 0);
      assert.ok(typeof l.t === 'number' && l.t >= last, `t in order: ${JSON.stringify(l)}`);
      last = l.t;
    }
    const first = stmts[0];
    assert.deepEqual(first.params, [7]);
    assert.equal(first.rows, 1);
    assert.ok(typeof first.dur === 'number' && first.dur >= 0);
    assert.deepEqual(Object.keys(first), ['k', 'conn', 'sql', 'dur', 'params', 'rows', 't', 'pid', 'th', 'at']);
    assert.equal(run.lines.filter((l) => l.k === 'begin').length, 20);
    assert.equal(run.lines.filter((l) => l.k === 'commit').length, 20);
  });

  // Drizzle's ES module build is hooked as Node reads it where drizzle-orm is installed above the working directory
  // or the main script (drizzle-esm.test.ts). Here it is installed beside a library the main script imports, above
  // neither: the build is traced in part, and says so.
  test('Drizzle loaded as an ES module where the agent does not hook it is reported once, and its statements are traced all the same', async () => {
    const dir = project('drizzle-esm');
    mkdirSync(join(dir, 'lib'));
    mkdirSync(join(dir, 'bin'));
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'lib', 'node_modules'), 'dir');
    writeFileSync(join(dir, 'bin', 'main.mjs'), "import '../lib/app.mjs';\n");
    writeLines(
      join(dir, 'lib', 'app.mjs'),
      [
        "import Database from 'better-sqlite3';",
        "import { sql } from 'drizzle-orm';",
        "import { drizzle } from 'drizzle-orm/better-sqlite3';",
        "const db = drizzle(new Database(':memory:'));",
        "db.run(sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)`);",
        "for (const text of ['a', 'b']) db.transaction((tx) => tx.run(sql`INSERT INTO notes (text) VALUES (${text})`));",
        "console.log(db.all(sql`SELECT count(*) AS n FROM notes`)[0].n);",
      ],
    );
    const run = await runTraced(join(dir, 'bin'), ['main.mjs']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '2\n');
    assert.equal(run.stderr.match(/txlens: drizzle-orm loaded as an ES module is traced in part/g)?.length, 1, run.stderr);
    // CREATE, two transactions of BEGIN, INSERT and COMMIT, and the count.
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => l.sql?.split(' ')[0].toUpperCase()),
      ['CREATE', 'BEGIN', 'INSERT', 'COMMIT', 'BEGIN', 'INSERT', 'COMMIT', 'SELECT'],
    );
    assert.equal(run.lines.filter((l) => l.k === 'commit').length, 2);
  });

  test('a process a test starts names that test in its header', async () => {
    const dir = project('spawn');
    const run = await runTraced(dir, ['--test', 'spawn.test.js']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const headers = run.lines.filter((l) => l.k === 'header') as Array<Line & { test?: string }>;
    const id = 'spawn.test.js > a child process counts rows';
    assert.deepEqual(headers.map((h) => h.test ?? null).sort(), [id, null].sort() as Array<string | null>);
    assert.deepEqual(run.lines.filter((l) => l.k === 'test_start').map((l) => (l as Line & { id?: string }).id), [id]);
    assert.equal(run.lines.filter((l) => l.k === 'stmt').length, 3);
  });

  test('an internal fault is reported once, stops capture, and changes nothing for the code', async () => {
    const dir = project('fault');
    const clean = await runTraced(dir, ['sqlite-plain.js']);
    const run = await runTraced(dir, ['sqlite-plain.js'], { TXLENS_FAULT_INJECT: 'sqlite.stmt' });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, clean.stdout);
    assert.equal(run.stderr.match(/txlens: capture stopped in this process/g)?.length, 1, run.stderr);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'agent_error').map((l) => l.message),
      ['Error: fault injected at sqlite.stmt'],
    );
    assert.equal(run.lines.filter((l) => l.k === 'stmt').length, 0);
  });

  test("a package testing itself: a statement's line is its test's, not the package's published code it runs through", async () => {
    // A library's suite imports its own build (package.json `files`), which its users get from node_modules.
    const dir = project('published');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'db-wrapper', files: ['lib/**/*.js'] }));
    mkdirSync(join(dir, 'lib'));
    writeLines(
      join(dir, 'lib', 'db.js'),
      [
        "const Database = require('better-sqlite3');",
        "exports.open = () => new Database(':memory:');",
        'exports.run = (db, sql) => db.prepare(sql).run();',
        "exports.later = (db, done) => setImmediate(() => { db.prepare('SELECT 2').get(); done(); });",
      ],
    );
    mkdirSync(join(dir, 'test'));
    writeLines(
      join(dir, 'test', 'db.test.js'),
      [
        "const db = require('../lib/db');",
        'const conn = db.open();',
        "db.run(conn, 'CREATE TABLE t (id INTEGER)');",
        "// A stack with only the package's own frames: its line, as before.",
        "db.later(conn, () => console.log('ok'));",
      ],
    );
    const run = await runTraced(dir, [join('test', 'db.test.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'ok\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.k, relative(dir, l.at?.[0] ?? ''), l.at?.[1]]),
      [
        ['connect', join('test', 'db.test.js'), 2],
        ['stmt', join('test', 'db.test.js'), 3],
        ['stmt', join('lib', 'db.js'), 4],
      ],
    );
  });

  test("a package testing its own build of its sources (Sequelize's lib/, mapped to src/): the line is its test's, not the sources'", async () => {
    // Sequelize publishes lib/, built from src/ with source maps: its frames map to src/, which `files` does not name.
    const dir = project('published-mapped');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'db-wrapper', files: ['lib'] }));
    mkdirSync(join(dir, 'src'));
    writeFileSync(
      join(dir, 'src', 'db.js'),
      ["const Database = require('better-sqlite3');", "exports.open = () => new Database(':memory:');", 'exports.run = (db, sql) => db.prepare(sql).run();', ''].join('\n'),
    );
    await build({ entryPoints: [join(dir, 'src', 'db.js')], outdir: join(dir, 'lib'), format: 'cjs', platform: 'node', sourcemap: true, logLevel: 'silent' });
    mkdirSync(join(dir, 'test'));
    writeFileSync(
      join(dir, 'test', 'db.test.js'),
      ["const db = require('../lib/db');", 'const conn = db.open();', "db.run(conn, 'CREATE TABLE t (id INTEGER)');", "console.log('ok');", ''].join('\n'),
    );
    const run = await runTraced(dir, [join('test', 'db.test.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.k, relative(dir, l.at?.[0] ?? ''), l.at?.[1]]),
      [
        ['connect', join('test', 'db.test.js'), 2],
        ['stmt', join('test', 'db.test.js'), 3],
      ],
    );
  });

  test("a package testing the sources of its build (no 'files'; an .npmignore, a main in dist/ that tsconfig builds from src/): the line is its test's", async () => {
    // typeorm-transactional's layout: its suite runs src/ through ts-jest, and its users get the dist/ built from it.
    const statementLines = async (npmignore: boolean, isPrivate = false): Promise<(string | number | undefined)[][]> => {
      const dir = project(npmignore ? (isPrivate ? 'private-app-sources' : 'published-sources') : 'app-sources');
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'db-wrapper', main: 'dist/index.js', types: 'dist/index.d.ts', ...(isPrivate ? { private: true } : {}) }));
      if (npmignore) writeLines(join(dir, '.npmignore'), ['src', 'test']);
      // JSON with a comment and trailing commas, as tsc reads it.
      writeLines(join(dir, 'tsconfig.json'), ['{', '  // the build', '  "compilerOptions": { "outDir": "dist", "target": "es2015", },', '  "include": ["src/**/*"],', '}']);
      mkdirSync(join(dir, 'src'));
      writeLines(join(dir, 'src', 'db.js'), ["const Database = require('better-sqlite3');", "exports.open = () => new Database(':memory:');", 'exports.run = (db, sql) => db.prepare(sql).run();']);
      mkdirSync(join(dir, 'test'));
      writeLines(join(dir, 'test', 'db.test.js'), ["const db = require('../src/db');", 'const conn = db.open();', "db.run(conn, 'CREATE TABLE t (id INTEGER)');"]);
      const run = await runTraced(dir, [join('test', 'db.test.js')]);
      assert.equal(run.code, 0, run.stderr);
      return run.lines.filter((l) => l.k === 'connect' || l.k === 'stmt').map((l) => [l.k, relative(dir, l.at?.[0] ?? ''), l.at?.[1]]);
    };
    assert.deepEqual(await statementLines(true), [
      ['connect', join('test', 'db.test.js'), 2],
      ['stmt', join('test', 'db.test.js'), 3],
    ]);
    // Without an .npmignore (or 'files') nothing says the package is published: an app's src/ is its own code.
    assert.deepEqual(await statementLines(false), [
      ['connect', join('src', 'db.js'), 2],
      ['stmt', join('src', 'db.js'), 3],
    ]);
    // A private package is never published, whatever it keeps an .npmignore for: an app, its src/ its own.
    assert.deepEqual(await statementLines(true, true), [
      ['connect', join('src', 'db.js'), 2],
      ['stmt', join('src', 'db.js'), 3],
    ]);
  });

  test("better-sqlite3 13's layout: lib/database.js a factory each entry point calls for its Database class", async () => {
    // 13 made lib/database.js export createDatabase(getAddon, allowNativeBinding); index.js calls it.
    // The real (12) package rebuilt in that shape: its Database class reachable only through the factory.
    const dir = project('sqlite-13');
    const fake = join(dir, 'node_modules', 'better-sqlite3');
    const real = join(repoRoot, 'node_modules', 'better-sqlite3');
    for (const part of ['package.json', 'lib', join('build', 'Release', 'better_sqlite3.node')]) cpSync(join(real, part), join(fake, part), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(fake, 'package.json'), 'utf8'));
    writeFileSync(join(fake, 'package.json'), JSON.stringify({ ...manifest, version: '13.0.3' }));
    cpSync(join(fake, 'lib', 'database.js'), join(fake, 'lib', 'database-class.js'));
    writeFileSync(
      join(fake, 'lib', 'database.js'),
      ["'use strict';", "const Base = require('./database-class');", 'module.exports = function createDatabase(getAddon, allowNativeBinding) {', '  return class Database extends Base {};', '};', ''].join('\n'),
    );
    writeFileSync(join(fake, 'lib', 'index.js'), ["'use strict';", "module.exports = require('./database')(null, true);", "module.exports.SqliteError = require('./sqlite-error');", ''].join('\n'));
    writeLines(
      join(dir, 'v13.js'),
      [
        "const Database = require('better-sqlite3');",
        "const db = new Database(':memory:');",
        "db.prepare('CREATE TABLE t (id INTEGER)').run();",
        "db.prepare('BEGIN').run();",
        "db.prepare('INSERT INTO t VALUES (1)').run();",
        "db.prepare('COMMIT').run();",
        "console.log(db.prepare('SELECT count(*) AS n FROM t').get().n);",
      ],
    );
    const run = await runTraced(dir, ['v13.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '1\n');
    assert.doesNotMatch(run.stderr, /not supported/);
    assert.equal(run.lines.find((l) => l.k === 'header')?.libs?.['better-sqlite3'], '13.0.3');
    assert.deepEqual(
      run.lines.filter((l) => ['connect', 'stmt', 'begin', 'commit'].includes(l.k)).map((l) => [l.k, l.at?.[1]]),
      [
        ['connect', 2],
        ['stmt', 3],
        ['begin', 4],
        ['stmt', 4],
        ['stmt', 5],
        ['stmt', 6],
        ['commit', 6],
        ['stmt', 7],
      ],
    );
  });

  test("a better-sqlite3 checkout testing itself: its lib/ and the addon it built are hooked, not only node_modules' copy", async () => {
    // better-sqlite3's own suite requires '../.': its lib/database.js and build/Release/better_sqlite3.node, in no node_modules.
    const dir = project('sqlite-checkout');
    const checkout = join(dir, 'better-sqlite3');
    const real = join(repoRoot, 'node_modules', 'better-sqlite3');
    for (const part of ['package.json', 'lib', join('build', 'Release', 'better_sqlite3.node')]) cpSync(join(real, part), join(checkout, part), { recursive: true });
    mkdirSync(join(checkout, 'test'));
    writeLines(
      join(checkout, 'test', 'self.js'),
      [
        "const Database = require('../.');",
        "const db = new Database(':memory:');",
        "db.prepare('CREATE TABLE t (id INTEGER)').run();",
        "db.transaction(() => db.prepare('INSERT INTO t VALUES (1)').run())();",
        "console.log(db.prepare('SELECT count(*) AS n FROM t').get().n);",
      ],
    );
    // Hooked at the checkout's files whatever the working directory: the suite runs from the checkout, an app linking it from elsewhere.
    const run = await runTraced(checkout, [join('test', 'self.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '1\n');
    assert.deepEqual(
      run.lines.filter((l) => ['connect', 'stmt', 'begin', 'commit'].includes(l.k)).map((l) => [l.k, l.sql ?? '', l.at?.[1]]),
      [
        ['connect', '', 2],
        ['stmt', 'CREATE TABLE t (id INTEGER)', 3],
        ['begin', '', 4],
        ['stmt', 'BEGIN', 4],
        ['stmt', 'INSERT INTO t VALUES (1)', 4],
        ['stmt', 'COMMIT', 4],
        ['commit', '', 4],
        ['stmt', 'SELECT count(*) AS n FROM t', 5],
      ],
    );
  });

  test('better-sqlite3 called with SQL that is not a string: its TypeError, and no statement recorded; SQL SQLite rejects still is', async () => {
    // better-sqlite3's own suite passes 123, 0, null, nothing and a String object to prepare() and exec().
    const dir = project('sqlite-not-string');
    const script = [
      "const Database = require('better-sqlite3');",
      "const db = new Database(':memory:');",
      "for (const sql of [123, null, undefined, new String('CREATE TABLE t (x)')]) {",
      '  for (const call of [() => db.prepare(sql), () => db.exec(sql)]) {',
      '    try { call(); } catch (e) { console.log(e.constructor.name, e.message); }',
      '  }',
      '}',
      "try { db.prepare('SELEC 1'); } catch (e) { console.log(e.code); }",
      '',
    ].join('\n');
    writeFileSync(join(dir, 'not-string.js'), script);
    const run = await runTraced(dir, ['not-string.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'TypeError Expected first argument to be a string\n'.repeat(8) + 'SQLITE_ERROR\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => [l.sql, l.err?.type, l.at?.[1]]),
      [['SELEC 1', 'SqliteError', 8]],
    );
  });

  test("better-sqlite3's iterate() is recorded at its iterator's first step, with what that step threw; an iterator never stepped ran nothing", async () => {
    // better-sqlite3's own verbose test: `stmt.iterate(20).return()` logs nothing, SQLite never ran it.
    const dir = project('sqlite-iterate');
    const script = [
      "const Database = require('better-sqlite3');",
      "const db = new Database(':memory:');",
      "db.function('boom', () => { throw new Error('boom'); });",
      "const stmt = db.prepare('SELECT ? AS x');",
      'stmt.iterate(20).return();',
      'for (const row of stmt.iterate(25)) console.log(row.x);',
      "const later = db.prepare('SELECT boom() AS y').iterate();",
      "db.prepare('SELECT 1').get();",
      'try { later.next(); } catch (e) { console.log(e.message); }',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'iterate.js'), script);
    const run = await runTraced(dir, ['iterate.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '25\nboom\n');
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => [l.sql, l.params, l.err?.type, l.at?.[1]]),
      [
        ['SELECT ? AS x', [25], undefined, 6],
        ['SELECT 1', undefined, undefined, 8],
        ['SELECT boom() AS y', undefined, 'Error', 7],
      ],
    );
  });

  test("better-sqlite3's prototype chain is the app's as untraced: a database's constructor is the Database it was built with", async () => {
    // better-sqlite3's own suite asserts these ('should have a proper prototype chain', and called as a function).
    const dir = project('sqlite-ctor');
    const script = [
      "const Database = require('better-sqlite3');",
      'class Sub extends Database {}',
      "const dbs = [new Database(':memory:'), Database(':memory:'), new Sub(':memory:')];",
      'console.log(dbs.map((db) => [db instanceof Database, db.constructor === Database, Object.getPrototypeOf(db) === Database.prototype, db.close === Database.prototype.close].join()).join(" "));',
      "console.log(Database.prototype.constructor === Database, dbs[2].constructor === Sub, Object.keys(Database.prototype).join());",
      '',
    ].join('\n');
    writeFileSync(join(dir, 'proto.js'), script);
    const plain = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['proto.js'], { cwd: dir, env: { ...process.env, NODE_PATH: join(repoRoot, 'node_modules'), NODE_OPTIONS: undefined }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
    const run = await runTraced(dir, ['proto.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(plain.split('\n')[0], 'true,true,true,true true,true,true,true true,false,false,true');
    assert.equal(run.stdout, plain);
    assert.equal(run.lines.filter((l) => l.k === 'connect').length, 3);
  });

  test("mocha: a test added through an `it` kept from another spec file is at its own file's line", async () => {
    // better-sqlite3's setup file exports `util.itUnix = it`: mocha names the setup file as the test's file,
    // while the test is at the line of the spec that called it. The trace put that line in the setup file.
    const dir = project('mocha-kept-it');
    mkdirSync(join(dir, 'test'));
    writeFileSync(join(dir, 'test', '00.setup.js'), ['global.util = { itUnix: it };', ''].join('\n'));
    writeFileSync(
      join(dir, 'test', '10.open.js'),
      ["const Database = require('better-sqlite3');", "describe('open', () => {", "  it('direct', () => {});", "  util.itUnix('kept', () => new Database(':memory:').prepare('SELECT 1').get());", '});', ''].join('\n'),
    );
    const run = await runTraced(dir, [join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), join('test', '00.setup.js'), join('test', '10.open.js')]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'test_start').map((l) => [l.name, relative(dir, l.file ?? ''), l.line]),
      [
        ['open > direct', join('test', '10.open.js'), 3],
        ['open > kept', join('test', '10.open.js'), 4],
      ],
    );
  });

  test("Knex's asyncStackTraces: a failed query's stack is the same traced as untraced, and the query still has its line", async () => {
    // Knex saves an Error in each builder's constructor and cuts its stack at a fixed depth: a frame of the
    // agent's in the constructor put one more line in every such stack (two of Knex's own tests failed).
    const dir = project('knex-async-stacks');
    const script = [
      "const knex = require('knex')({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true, asyncStackTraces: true });",
      'const where = (stack) => stack.split("\\n").slice(1, 4).map((l) => l.trim().replace(/ \\(.*/, "")).join(" | ");',
      '(async () => {',
      "  try { await knex.raw('select * from missing_table'); } catch (e) { console.log(where(e.stack)); }",
      "  try { await knex('missing_table').select('id'); } catch (e) { console.log(where(e.stack)); }",
      "  try { await knex.schema.renameTable('missing_table', 'other'); } catch (e) { console.log(where(e.stack)); }",
      '  await knex.destroy();',
      '})();',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'knex-stacks.js'), script);
    const plain = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['knex-stacks.js'], { cwd: dir, env: { ...process.env, NODE_PATH: join(repoRoot, 'node_modules'), NODE_OPTIONS: undefined }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
    const run = await runTraced(dir, ['knex-stacks.js']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(plain, /^at Object\.raw \| /);
    assert.equal(run.stdout, plain);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => [l.sql?.split(' ')[0], l.at?.[1]]),
      [
        ['select', 4],
        ['select', 5],
        ['alter', 6],
      ],
    );
  });

  test('an unsupported driver major version is reported once and runs untraced', async () => {
    const dir = project('unsupported');
    // The real better-sqlite3, under a version number the agent does not support.
    const fake = join(dir, 'node_modules', 'better-sqlite3');
    const real = join(repoRoot, 'node_modules', 'better-sqlite3');
    for (const part of ['package.json', 'lib', join('build', 'Release', 'better_sqlite3.node')]) cpSync(join(real, part), join(fake, part), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(fake, 'package.json'), 'utf8'));
    writeFileSync(join(fake, 'package.json'), JSON.stringify({ ...manifest, version: '7.0.0' }));
    const run = await runTraced(dir, ['-e', "for (const i of [1, 2]) { const D = require('better-sqlite3'); new D(':memory:').prepare('SELECT 1').get(); } console.log('ok')"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'ok\n');
    assert.equal(run.stderr.match(/txlens: better-sqlite3 7\.0\.0 is not supported/g)?.length, 1, run.stderr);
    assert.deepEqual(run.files, []);
  });
});
