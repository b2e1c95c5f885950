/** How the page names what it draws, in tooltips, the details panel and the picker. */
import { plural } from '../../present/wording';
import type { TimelineBar, TimelinePlace, TimelineTest, TimelineView } from '../timeline/view';

/** 'INSERT jobs', 'SELECT jobs, users', 'BEGIN'. */
export function verbText(item: { verb: string; tables: string[] }): string {
  return item.verb + (item.tables.length ? ` ${item.tables.join(', ')}` : '');
}

/** 'app/worker.py:22'. */
export function placeText(place: TimelinePlace): string {
  return `${place.path}:${place.line}`;
}

/** 'S3 · Session · test.db'. */
export function laneName(view: TimelineView, i: number): string {
  const lane = view.lanes[i];
  return lane ? `${lane.id} · ${lane.detail}` : '';
}

/** 'tx13 · rolled back: session closed without commit'. */
export function barName(view: TimelineView, i: number): string {
  const b = view.bars[i];
  return b ? `${b.id} · ${b.outcomeText}` : '';
}

/** A bar's style: a rollback that lost nothing is drawn quietly. */
export function outcomeClass(bar: TimelineBar): string {
  return bar.quiet ? 'quiet' : bar.outcome;
}

/** 'tests/test_a.py::test_b (failed) · 2 findings': a band's and a name's tooltip. */
export function testTitle(t: TimelineTest): string {
  const parts = [t.id + (t.outcome ? ` (${t.outcome})` : '')];
  if (t.findings) parts.push(plural(t.findings, 'finding'));
  return parts.join(' · ');
}

export function failed(t: TimelineTest): boolean {
  return t.outcome === 'failed' || t.outcome === 'error';
}

/** '✗ test_b': a failed test is crossed, one with findings only marked. */
export function testMark(t: TimelineTest): string {
  return failed(t) ? '✗ ' : t.attention ? '! ' : '';
}
