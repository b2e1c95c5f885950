/**
 * CodeLens texts after a run: over each test what its sessions and
 * transactions did ("3 sessions · 5 transactions · 4 commits · 1 finding"),
 * and over the file a summary of its tests.
 */
import type { Finding } from '../../analysis/findings';
import { ModelRun, ModelTest, testSummaries, TestSummary } from '../../model/model';
import type { LocatedTest } from './locate';
import { plural } from '../../present/wording';
import { namesSessions, sessionsText } from '../../report/render';

export interface TestLens {
  /** The model tests the located function stands for (several for a parametrized test). */
  tests: ModelTest[];
  text: string;
  /** Every run of it passed: false when one failed or errored. */
  passed: boolean;
  findings: Finding[];
}

const summaryCache = new WeakMap<ModelRun, Map<string, TestSummary>>();

function summaries(model: ModelRun): Map<string, TestSummary> {
  let m = summaryCache.get(model);
  if (!m) {
    m = new Map(testSummaries(model).map((s) => [s.test.id, s]));
    summaryCache.set(model, m);
  }
  return m;
}

/** 'tests/test_a.py::TestX::test_b[1]' → ['TestX', 'test_b']. */
function idPath(id: string): string[] {
  const parts = id.split('::').slice(1);
  if (parts.length > 0) parts[parts.length - 1] = parts[parts.length - 1].replace(/\[.*\]$/, '');
  return parts;
}

/** Model tests of `file` (absolute) that a located test function or suite stands for. */
export function modelTestsFor(model: ModelRun, file: string, located: LocatedTest): ModelTest[] {
  const seen = new Set<string>();
  const out: ModelTest[] = [];
  for (const t of model.tests) {
    if (t.file !== file || seen.has(t.id)) continue;
    const p = idPath(t.id);
    const samePath = p.length > 0 ? p.slice(0, located.path.length).join('::') === located.path.join('::') && (located.kind === 'suite' || p.length === located.path.length) : false;
    // Frameworks without '::' ids (JS runners) give a title; match it against the title path.
    const sameTitle = p.length === 0 && (t.name === located.name || t.name === located.path.join(' ') || t.name === located.path.join(' > '));
    if (samePath || sameTitle || (located.kind === 'test' && t.line === located.line && p.length === 0)) {
      seen.add(t.id);
      out.push(t);
    }
  }
  return out;
}

/**
 * '1 shared session · 1 transaction · 0 commits · 0 findings': sessions a wider-scoped fixture opened count as shared.
 * Transactions with no session at all (a driver used directly: pg, better-sqlite3, a bare SQLAlchemy
 * connection) leave the sessions out, since '0 sessions' would read as if nothing ran.
 */
export function countsText(c: { sessions: number; sharedSessions?: number; transactions: number; commits: number }, findings: number): string {
  const parts = [plural(c.transactions, 'transaction'), plural(c.commits, 'commit'), plural(findings, 'finding')];
  return (namesSessions(c) ? [sessionsText(c.sessions, c.sharedSessions), ...parts] : parts).join(' · ');
}

/** The lens over one located test, or undefined when the run did not run it. */
export function testLens(model: ModelRun, findings: Finding[], file: string, located: LocatedTest): TestLens | undefined {
  const tests = modelTestsFor(model, file, located);
  if (tests.length === 0) return undefined;
  const ids = new Set(tests.map((t) => t.id));
  const sums = summaries(model);
  const total = { sessions: 0, sharedSessions: 0, transactions: 0, commits: 0 };
  for (const id of ids) {
    const c = sums.get(id)?.counts;
    if (!c) continue;
    total.sessions += c.sessions;
    total.sharedSessions += c.sharedSessions;
    total.transactions += c.transactions;
    total.commits += c.commits;
  }
  const own = findings.filter((f) => f.test !== undefined && ids.has(f.test));
  const failed = tests.filter((t) => t.outcome === 'failed' || t.outcome === 'error').length;
  const runs = tests.length > 1 ? `${plural(tests.length, 'run')}${failed ? ` (${failed} failed)` : ''} · ` : failed ? 'failed · ' : '';
  return { tests, text: `${runs}${countsText(total, own.length)}`, passed: failed === 0, findings: own };
}

/** The lens over a whole test file. */
export function fileLensText(model: ModelRun, findings: Finding[], file: string): string | undefined {
  const tests = model.tests.filter((t) => t.file === file);
  if (tests.length === 0) return undefined;
  const ids = new Set(tests.map((t) => t.id));
  const failed = new Set(tests.filter((t) => t.outcome === 'failed' || t.outcome === 'error').map((t) => t.id)).size;
  const own = findings.filter((f) => f.test !== undefined && ids.has(f.test)).length;
  return `${plural(ids.size, 'test')} traced${failed ? ` (${failed} failed)` : ''} · ${plural(own, 'finding')}`;
}
