// Runs the timeline tests share: a real traced run with hostile text in its SQL
// and file name (written by `txlens run --html`), and a large generated trace.
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyse } from '../../src/analysis/analyse';
import type { Finding } from '../../src/analysis/findings';
import { loadModel, ModelRun } from '../../src/model/model';
import { generateTrace } from '../../bench/trace-generator';
import { python, repoRoot, runCli, tempDir } from '../support/env';

export const HOSTILE_INSERT = `INSERT INTO notes (body) VALUES ('</script><img src=x onerror=alert(1)>')`;
export const HOSTILE_SELECT = `SELECT body AS "<b onmouseover=alert(2)>&amp;" FROM notes WHERE body <> '</style><script>alert(3)</script>'`;
/** A file name a shell, HTML and JSON would each like to interpret. */
export const HOSTILE_SCRIPT = `q'&<b>"x.py`;

const SCRIPT = `import sqlite3

db = sqlite3.connect("notes.db")
db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
db.commit()
db.execute(${JSON.stringify(HOSTILE_INSERT)})
db.commit()
db.execute(${JSON.stringify(HOSTILE_SELECT)}).fetchall()
# Left uncommitted: the connection closes without COMMIT, a finding whose place is this file.
db.execute(${JSON.stringify(HOSTILE_INSERT)})
db.close()
`;

export interface HostileRun {
  work: string;
  trace: string;
  html: string;
  model: ModelRun;
  findings: Finding[];
  stderr: string;
}

let hostile: Promise<HostileRun> | undefined;

export function hostileRun(): Promise<HostileRun> {
  hostile ??= (async () => {
    const work = realpathSync(tempDir('timeline-hostile'));
    writeFileSync(join(work, HOSTILE_SCRIPT), SCRIPT);
    const trace = join(work, '.txlens', 'runs', 'hostile');
    const html = join(work, 'timeline.html');
    const r = await runCli(['run', '--json', '--html', html, '--trace', trace, '--', python('sa20'), HOSTILE_SCRIPT], { cwd: work });
    if (r.code === 2) throw new Error(`txlens run failed: ${r.stderr}`);
    const model = loadModel(trace);
    return { work, trace, html, model, findings: analyse(model).findings, stderr: r.stderr };
  })();
  return hostile;
}

export interface LargeRun {
  dir: string;
  events: number;
  model: ModelRun;
  findings: Finding[];
}

let large: Promise<LargeRun> | undefined;

export function largeRun(events = 150_000): Promise<LargeRun> {
  large ??= (async () => {
    const dir = tempDir('timeline-large');
    mkdirSync(dir, { recursive: true });
    const made = generateTrace(dir, events);
    const model = loadModel(dir);
    return { dir, events: made.events, model, findings: analyse(model).findings };
  })();
  return large;
}

export function readHtml(path: string): string {
  return readFileSync(path, 'utf8');
}

export interface SuiteRun {
  work: string;
  html: string;
  model: ModelRun;
  findings: Finding[];
}

let suite: Promise<SuiteRun> | undefined;

/**
 * A real suite too long to read whole: test/fixtures/report/notes' 120 passing tests
 * and its one failing test (a missing commit), traced with `txlens run --html`.
 */
export function suiteRun(): Promise<SuiteRun> {
  suite ??= (async () => {
    const work = realpathSync(tempDir('timeline-suite'));
    cpSync(join(repoRoot, 'test', 'fixtures', 'report', 'notes'), work, { recursive: true, filter: (src) => !/(__pycache__|\.pytest_cache|\.pyc$|notes\.db$)/.test(src) });
    const trace = join(work, '.txlens', 'runs', 'suite');
    const html = join(work, 'timeline.html');
    const tests = ['tests/test_many.py', 'tests/test_lost.py'];
    const r = await runCli(['run', '--json', '--html', html, '--trace', trace, '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...tests], { cwd: work });
    if (r.code !== 1) throw new Error(`the suite's one failing test should make the run exit 1, got ${r.code}: ${r.stderr.slice(-2000)}`);
    const model = loadModel(trace);
    return { work, html, model, findings: analyse(model).findings };
  })();
  return suite;
}
