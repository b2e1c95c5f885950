/**
 * Writes a run folder shaped like a real SQLAlchemy + pytest run: a test
 * process with test windows, sessions that open, write, read and commit or
 * roll back, identity-map hits, a worker subprocess started by some tests,
 * and now and then the bugs the rules look for (a session closed without
 * commit, a read of an uncommitted row from another session). Deterministic
 * for a given size, so runs compare.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TABLES = ['jobs', 'users', 'accounts', 'invoices', 'orders', 'items', 'events', 'audit_log'];

/** A tiny seeded PRNG (mulberry32): the same size always yields the same trace. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class ProcessWriter {
  private lines: string[] = [];
  private bytes = 0;
  count = 0;
  t = 0;
  private c = 0;
  private s = 0;
  private x = 0;
  constructor(
    private readonly path: string,
    readonly pid: number,
    ppid: number,
    t0: bigint,
    test?: string,
  ) {
    this.push({ k: 'header', v: 1, pid, ppid, t0: t0.toString(), wall: 1_763_700_000_000, argv: ['python', '-m', 'pytest'], cwd: '/proj', lang: 'python', test });
    this.count = 0;
  }
  private push(o: Record<string, unknown>): void {
    const line = JSON.stringify(o);
    this.lines.push(line);
    this.bytes += line.length + 1;
    this.count++;
  }
  ev(k: string, fields: Record<string, unknown>): void {
    this.t += 1_000 + (this.count % 7) * 300;
    this.push({ k, t: this.t, pid: this.pid, th: 1, ...fields });
  }
  conn(): string {
    return `c${++this.c}`;
  }
  sess(): string {
    return `s${++this.s}`;
  }
  tx(): string {
    return `t${++this.x}`;
  }
  /** Appends what is buffered to the file; returns the bytes written so far. */
  flush(): number {
    writeFileSync(this.path, this.lines.join('\n') + '\n', { flag: 'a' });
    this.lines = [];
    const written = this.bytes;
    this.bytes = 0;
    return written;
  }
}

export function generateTrace(dir: string, targetEvents: number): { events: number; mb: number } {
  const rand = rng(targetEvents);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const main = new ProcessWriter(join(dir, 'py-1000-aaaaaa.ndjson'), 1000, 999, 10_000_000_000n);
  const db = { system: 'sqlite', file: '/proj/test.db', name: '/proj/test.db' };
  const app = (line: number): [string, number, string] => [`/proj/app/${pick(['jobs', 'users', 'billing', 'api'])}.py`, line, 'handler'];
  const tst = (line: number): [string, number, string] => ['/proj/tests/test_suite.py', line, 'test_case'];
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, command: ['pytest'], cwd: '/proj', startedWall: 1_763_700_000_000 }) + '\n');
  let total = 0;
  let bytes = 0;
  let testNo = 0;
  let workerPid = 2000;
  const pool: string[] = [];
  const session = (w: ProcessWriter, withBug: boolean) => {
    const sess = w.sess();
    w.ev('session_open', { sess, cls: 'Session', at: app(10) });
    let conn = pool.pop();
    if (!conn) {
      conn = w.conn();
      w.ev('connect', { conn, db, driver: 'pysqlite', pool: 'p1', engine: 'e1', at: app(3), engineAt: ['/proj/app/db.py', 7, '<module>'] });
    }
    w.ev('checkout', { conn, pool: 'p1' });
    const txs = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < txs; i++) {
      const tx = w.tx();
      w.ev('begin', { conn, tx, sess, implicit: true });
      const stmts = 3 + Math.floor(rand() * 8);
      for (let j = 0; j < stmts; j++) {
        const table = pick(TABLES);
        const r = rand();
        const sql =
          r < 0.35
            ? `INSERT INTO ${table} (name, status, created_at) VALUES (?, ?, ?)`
            : r < 0.5
              ? `UPDATE ${table} SET status=? WHERE ${table}.id = ?`
              : `SELECT ${table}.id, ${table}.name, ${table}.status FROM ${table} WHERE ${table}.id = ?`;
        w.ev('stmt', { conn, tx, sess, sql, params: [Math.floor(rand() * 1000), 'PENDING'], rows: 1, dur: 20_000 + Math.floor(rand() * 50_000), at: app(20 + j) });
        if (rand() < 0.02) w.ev('identity_hit', { sess, entity: 'Job', table: 'jobs', key: [String(Math.floor(rand() * 1000))], at: app(40) });
      }
      if (withBug && i === txs - 1) {
        w.ev('rollback', { conn, tx, sess, cause: 'session-close', at: app(60) });
      } else if (rand() < 0.85) {
        w.ev('commit', { conn, tx, sess, at: app(50) });
      } else {
        w.ev('rollback', { conn, tx, sess, cause: 'explicit', at: app(55) });
      }
    }
    w.ev('checkin', { conn, pool: 'p1' });
    w.ev('reset', { conn, rolledBack: false });
    w.ev('session_close', { sess, at: app(70) });
    pool.push(conn);
  };
  while (total + main.count < targetEvents) {
    testNo++;
    const id = `tests/test_suite.py::test_case_${testNo}`;
    main.ev('test_start', { id, name: `test_case_${testNo}`, file: '/proj/tests/test_suite.py', line: testNo * 3 });
    const sessions = 2 + Math.floor(rand() * 3);
    for (let i = 0; i < sessions; i++) session(main, testNo % 25 === 0 && i === 0);
    if (testNo % 10 === 0) {
      // A worker subprocess started by this test, with its own file and clock offset.
      const worker = new ProcessWriter(join(dir, `py-${workerPid}-bbbbbb.ndjson`), workerPid++, 1000, 10_000_000_000n + BigInt(main.t), id);
      const conn = worker.conn();
      worker.ev('connect', { conn, db, driver: 'pysqlite', at: ['/proj/app/worker.py', 5, 'main'] });
      const tx = worker.tx();
      worker.ev('begin', { conn, tx, implicit: true });
      worker.ev('stmt', { conn, tx, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['COMPLETED', testNo], rows: 1, dur: 30_000, at: ['/proj/app/worker.py', 12, 'run'] });
      worker.ev('commit', { conn, tx, at: ['/proj/app/worker.py', 13, 'run'] });
      main.t += worker.t;
      total += worker.count;
      bytes += worker.flush();
    }
    main.ev('test_end', { id, outcome: testNo % 25 === 0 ? 'failed' : 'passed', at: tst(testNo * 3) });
    if (main.count > 50_000) {
      total += main.count;
      bytes += main.flush();
      main.count = 0;
    }
  }
  total += main.count;
  bytes += main.flush();
  return { events: total, mb: bytes / 1048576 };
}
