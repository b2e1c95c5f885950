/** The tests on the timeline: a window per test, behind its process's lanes, and which ones need attention. */
import type { ModelProcess } from '../../model/model';
import { relPath } from '../../present/paths';
import { testLabel } from '../../present/wording';
import type { ViewBuild } from './context';
import type { TimelineTest } from './view';

/** Narrowest band, in pixels at the nominal width, that holds a test's name: below it the page opens on the focus tests. */
const READABLE_TEST_PX = 160;

export function buildTests(b: ViewBuild, procSlot: Map<ModelProcess, number>): TimelineTest[] {
  const tests: TimelineTest[] = [];
  const findingsOf = new Map<string, number>();
  for (const f of b.findings) if (f.test) findingsOf.set(f.test, (findingsOf.get(f.test) ?? 0) + 1);
  for (const t of b.model.tests) {
    const proc = procSlot.get(t.process);
    if (proc === undefined) continue;
    const own = findingsOf.get(t.id) ?? 0;
    tests.push({
      id: t.id,
      name: t.name,
      label: testLabel(t.id, t.name),
      path: t.file ? relPath(t.file, b.opt.cwd) : '',
      outcome: t.outcome,
      message: t.message,
      findings: own,
      attention: t.outcome === 'failed' || t.outcome === 'error' || own > 0,
      process: proc,
      x0: b.x(t.start),
      x1: b.x(t.end ?? t.process.end),
    });
  }
  return tests;
}

/** Ids of the tests that failed or have a finding, in run order, each once. */
export function focusTests(tests: TimelineTest[]): string[] {
  return [...new Set(tests.filter((t) => t.attention).map((t) => t.id))];
}

/** 'focus' when the whole run would squeeze a test that needs attention narrower than its name. */
export function opensOn(tests: TimelineTest[], nominalWidth: number): 'focus' | 'run' {
  return tests.some((t) => t.attention && (t.x1 - t.x0) * nominalWidth < READABLE_TEST_PX) ? 'focus' : 'run';
}
