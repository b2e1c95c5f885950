/**
 * The page around the chart: the heading with the run's counts, the picker of
 * what to show, the legend, the chart and its details panel, the findings list
 * and the notes. `show` builds it for a view; `render` redraws the chart.
 */
import { plural } from '../../present/wording';
import type { TimelineView } from '../timeline/view';
import { drawChart } from './chart';
import { isItemKind, placeOf, select } from './details';
import { clear, el, svg } from './dom';
import type { DrawnCounts, WebviewHost } from './protocol';
import { FOCUS, type PageState } from './state';
import { placeText, testMark, testTitle } from './text';
import { openSource } from './source';

/** Shows `view` in `root`, replacing what was there. A suite too long to read whole opens on the tests that failed or have findings. */
export function show(root: HTMLElement, host: WebviewHost | undefined, view: TimelineView): PageState {
  clear(root);
  const page: PageState = {
    root,
    host,
    view,
    test: view.opensOn === 'focus' && (view.focus ?? []).length ? FOCUS : '',
    selected: undefined,
    chart: el('div', { class: 'tl-chart' }),
    details: el('aside', { class: 'tl-details', 'aria-live': 'polite' }),
  };
  root.appendChild(heading(page));
  root.appendChild(legend());
  root.appendChild(body(page));
  if (view.findings.length) root.appendChild(findingsList(page));
  if (view.notes.length) root.appendChild(notes(view));
  listen(page);
  render(page);
  return page;
}

/** Draws the chart again (a new choice in the picker, a resized window) and says what it drew. */
export function render(page: PageState): DrawnCounts {
  const counts = drawChart(page);
  const root = page.root;
  root.setAttribute('data-lanes', String(counts.lanes));
  root.setAttribute('data-bars', String(counts.bars));
  root.setAttribute('data-ticks', String(counts.ticks));
  root.setAttribute('data-arrows', String(counts.arrows));
  root.setAttribute('data-markers', String(counts.markers));
  root.setAttribute('data-showing', page.test === FOCUS ? 'focus' : page.test ? 'test' : 'run');
  document.body.classList.add('tl-rendered');
  page.host?.postMessage({ type: 'rendered', counts, laneIds: laneIds(root) });
  return counts;
}

function laneIds(root: HTMLElement): string[] {
  const out: string[] = [];
  const nodes = root.querySelectorAll('[data-lane]');
  for (let i = 0; i < nodes.length; i++) out.push(nodes[i].getAttribute('data-lane')!);
  return out;
}

/** Title, what was traced, the run's counts, and the picker. */
function heading(page: PageState): HTMLElement {
  const view = page.view;
  const head = el('div', { class: 'tl-head' });
  const titles = el('div', { class: 'tl-titles' });
  titles.appendChild(el('h1', null, view.title));
  titles.appendChild(el('p', { class: 'tl-sub' }, view.subtitle));
  const c = view.counts;
  const counts = [
    plural(c.tests, 'test'),
    plural(c.processes, 'process', 'processes'),
    plural(c.sessions, 'session'),
    `${plural(c.transactions, 'transaction')} (${plural(c.commits, 'commit')}, ${plural(c.rollbacks, 'rollback')})`,
    plural(c.statements, 'statement'),
    plural(view.findings.length, 'finding'),
  ];
  titles.appendChild(el('div', { class: 'tl-counts' }, counts.join(' · ')));
  head.appendChild(titles);
  const controls = el('div', { class: 'tl-controls' });
  controls.appendChild(el('label', { for: 'tl-test-select' }, 'Show'));
  controls.appendChild(picker(page));
  head.appendChild(controls);
  return head;
}

/** What the chart shows: the focus tests, the whole run, or one test. */
function picker(page: PageState): HTMLSelectElement {
  const view = page.view;
  const select = el('select', { id: 'tl-test-select' });
  const focus = view.focus ?? [];
  if (focus.length) {
    const which = focus.length === 1 ? 'the test that failed or has findings' : `the ${focus.length} tests that failed or have findings`;
    select.appendChild(el('option', { value: FOCUS }, which));
  }
  select.appendChild(el('option', { value: '' }, 'the whole run'));
  // The tests that need attention first, then the others; each labelled by name, with its file.
  const attention = el('optgroup', { label: 'Failed or with findings' });
  const others = el('optgroup', { label: 'Other tests' });
  const seen = new Set<string>();
  for (const t of view.tests) {
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    const text = testMark(t) + (t.label || t.name) + (t.path ? ` — ${t.path}` : '');
    (t.attention ? attention : others).appendChild(el('option', { value: t.id, title: testTitle(t) }, text));
  }
  for (const g of [attention, others]) if (g.firstChild) select.appendChild(g);
  select.value = page.test;
  select.addEventListener('change', () => {
    page.test = select.value;
    render(page);
  });
  return select;
}

/** A legend entry: a small drawing in the style of the chart's element, and its meaning. */
function legendItem(box: HTMLElement, cls: string, text: string): void {
  const wrap = el('span');
  const s = svg('svg', { width: 22, height: 12, class: 'tl-svg', 'aria-hidden': 'true' });
  if (cls.startsWith('tl-bar')) {
    s.appendChild(svg('rect', { class: cls, x: 1, y: 1, width: 20, height: 10, rx: 2 }));
  } else if (cls.startsWith('tl-tick')) {
    const g = svg('g', { class: cls });
    if (cls.includes('identity')) g.appendChild(svg('circle', { class: 'tl-mark', cx: 11, cy: 6, r: 4 }));
    else g.appendChild(svg('line', { class: 'tl-mark', x1: 11, x2: 11, y1: 1, y2: 11 }));
    s.appendChild(g);
  } else if (cls.startsWith('tl-arrow')) {
    s.appendChild(svg('path', { class: cls, d: 'M1,9 C6,0 16,0 21,9' }));
  } else if (cls.startsWith('tl-marker')) {
    const m = svg('g', { class: cls });
    m.appendChild(svg('circle', { cx: 11, cy: 6, r: 5.5 }));
    s.appendChild(m);
  }
  wrap.appendChild(s);
  wrap.appendChild(document.createTextNode(text));
  box.appendChild(wrap);
}

function legend(): HTMLElement {
  const box = el('div', { class: 'tl-legend' });
  legendItem(box, 'tl-bar commit', 'committed');
  legendItem(box, 'tl-bar rollback', 'rolled back (writes lost)');
  legendItem(box, 'tl-bar quiet', 'ended, nothing to commit');
  legendItem(box, 'tl-bar open', 'never ended');
  legendItem(box, 'tl-tick write', 'write');
  legendItem(box, 'tl-tick read', 'read');
  legendItem(box, 'tl-tick identity', 'identity-map hit');
  legendItem(box, 'tl-arrow uncommitted', 'read could not see the write');
  legendItem(box, 'tl-arrow stale', 'read an older state');
  legendItem(box, 'tl-marker error', 'finding');
  return box;
}

/** The chart and, beside it, the details panel with its hint. */
function body(page: PageState): HTMLElement {
  const box = el('div', { class: 'tl-body' });
  page.details.appendChild(el('h2', null, 'Details'));
  page.details.appendChild(
    el('p', { class: 'tl-hint' }, 'Click a transaction bar, a statement tick, an arrow or a numbered finding to see its SQL, source line, session and outcome.'),
  );
  box.appendChild(page.chart);
  box.appendChild(page.details);
  return box;
}

/** The findings, numbered as their markers; a rule's name selects its finding. */
function findingsList(page: PageState): HTMLElement {
  const sec = el('section', { class: 'tl-findings' });
  sec.appendChild(el('h2', null, 'Findings'));
  const ol = el('ol');
  page.view.findings.forEach((f, i) => {
    const li = el('li', { class: f.severity, 'data-finding': i });
    li.appendChild(el('span', { class: 'tl-sev' }, `${f.severity} `));
    const b = el('button', { type: 'button', class: 'tl-link tl-rule' }, f.rule);
    b.addEventListener('click', () => {
      select(page, 'finding', i);
      openSource(page, f.at);
    });
    li.appendChild(b);
    li.appendChild(document.createTextNode(` ${placeText(f.at)} — ${f.message}`));
    ol.appendChild(li);
  });
  sec.appendChild(ol);
  return sec;
}

function notes(view: TimelineView): HTMLElement {
  const box = el('div', { class: 'tl-notes' });
  for (const n of view.notes) box.appendChild(el('p', null, `Note: ${n}`));
  return box;
}

/** A click, Enter or Space on a drawn item selects it, and in the editor opens its line. */
function listen(page: PageState): void {
  const chart = page.chart;
  const activate = (n: Element) => {
    const kind = n.getAttribute('data-kind');
    if (!isItemKind(kind)) return;
    const index = Number(n.getAttribute('data-index'));
    select(page, kind, index);
    openSource(page, placeOf(page.view, kind, index));
  };
  chart.addEventListener('click', (e) => {
    let n = e.target as Node | null;
    while (n && n !== chart && !(n instanceof Element && n.getAttribute('data-kind'))) n = n.parentNode;
    if (!n || n === chart) return;
    activate(n as Element);
  });
  chart.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    const n = e.target;
    if (!(n instanceof Element) || !n.getAttribute('data-kind')) return;
    e.preventDefault();
    activate(n);
  });
}
