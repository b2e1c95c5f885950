/**
 * The details panel beside the chart: what a clicked statement, transaction,
 * lane, arrow or finding is, with its source places.
 */
import { offset, duration, plural } from '../../present/wording';
import type { TimelinePlace, TimelineView } from '../timeline/view';
import { clear, el } from './dom';
import { sourceNode } from './source';
import type { ItemKind, PageState } from './state';
import { barName, laneName, outcomeClass, placeText, verbText } from './text';

/** A row of the panel's list; rows without a value are left out. */
type Row = [string, string | number | Node | undefined | null];

function dlist(rows: Row[]): HTMLDListElement {
  const dl = el('dl');
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    dl.appendChild(el('dt', null, label));
    const dd = el('dd');
    if (typeof value === 'object') dd.appendChild(value);
    else dd.textContent = String(value);
    dl.appendChild(dd);
  }
  return dl;
}

function chip(text: string, cls: string): HTMLSpanElement {
  return el('span', { class: `tl-chip ${cls}` }, text);
}

/** Empties the panel for a new subject. */
function panel(page: PageState): HTMLElement {
  clear(page.details);
  return page.details;
}

function arrowsOf(view: TimelineView, tick: number): number[] {
  const out: number[] = [];
  view.arrows.forEach((a, i) => {
    if (a.from === tick || a.to === tick) out.push(i);
  });
  return out;
}

function showTick(page: PageState, i: number): void {
  const view = page.view;
  const t = view.ticks[i];
  const d = panel(page);
  const h = el('h2', null, verbText(t));
  if (t.kind === 'identity') h.appendChild(chip('identity map, no SQL', 'info'));
  if (t.error) h.appendChild(chip('failed', 'error'));
  d.appendChild(h);
  const bar = t.bar !== undefined ? view.bars[t.bar] : undefined;
  d.appendChild(
    dlist([
      ['Source', t.at ? sourceNode(page, t.at) : '(no user frame)'],
      ['Lane', laneName(view, t.lane)],
      ['Transaction', bar ? barName(view, t.bar!) : t.kind === 'identity' ? '' : '(none seen)'],
      ['Test', t.test],
      ['At', offset(t.time)],
      ['Took', t.dur !== undefined ? duration(t.dur) : undefined],
      ['Rows', t.rows],
      ['Error', t.error],
    ]),
  );
  if (t.count > 1) {
    const items = t.items ?? [];
    d.appendChild(el('p', null, `${t.count} statements ran too close together to draw apart:`));
    if (t.sql) d.appendChild(el('pre', null, t.sql));
    const ul = el('ul');
    for (const it of items) {
      const li = el('li', null, verbText(it) + (it.at ? ' at ' : ''));
      if (it.at) li.appendChild(sourceNode(page, it.at));
      ul.appendChild(li);
    }
    if (t.count > items.length) ul.appendChild(el('li', null, `… ${t.count - items.length} more`));
    d.appendChild(ul);
  } else if (t.sql) {
    d.appendChild(el('pre', { class: 'tl-sql' }, t.sql));
  }
  for (const a of arrowsOf(view, i)) d.appendChild(el('p', null, view.arrows[a].text));
}

/** How many of a transaction's statements the panel lists. */
const BAR_STATEMENTS_LISTED = 30;

function showBar(page: PageState, i: number): void {
  const view = page.view;
  const b = view.bars[i];
  const d = panel(page);
  const h = el('h2', null, `${b.id} `);
  h.appendChild(chip(b.outcomeText, outcomeClass(b)));
  d.appendChild(h);
  d.appendChild(
    dlist([
      ['Lane', laneName(view, b.lane)],
      ['Connection', b.connection],
      ['Database', b.database],
      ['Isolation', b.isolation],
      ['Test', b.test],
      ['Began', offset(b.start)],
      ['Began at', b.begin ? sourceNode(page, b.begin) : undefined],
      ['Ended', b.end !== undefined ? offset(b.end) : 'never'],
      ['Ended at', b.endAt ? sourceNode(page, b.endAt) : undefined],
      ['Statements', b.statements + (b.writes ? ` (${plural(b.writes, 'write')})` : '')],
    ]),
  );
  const ul = el('ul');
  let shown = 0;
  view.ticks.forEach((t, ti) => {
    if (t.bar !== i || shown >= BAR_STATEMENTS_LISTED) return;
    shown++;
    const li = el('li');
    const link = el('button', { type: 'button', class: 'tl-link' }, verbText(t));
    link.addEventListener('click', () => select(page, 'tick', ti));
    li.appendChild(link);
    if (t.at) li.appendChild(document.createTextNode(` · ${placeText(t.at)}`));
    ul.appendChild(li);
  });
  if (shown) d.appendChild(ul);
}

function showLane(page: PageState, i: number): void {
  const view = page.view;
  const l = view.lanes[i];
  const d = panel(page);
  d.appendChild(el('h2', null, `${l.id} · ${l.detail}`));
  const bars = view.bars.filter((b) => b.lane === i);
  const commits = bars.filter((b) => b.outcome === 'commit').length;
  d.appendChild(
    dlist([
      ['Kind', l.kind === 'session' ? 'ORM session' : 'connection (work outside any session)'],
      ['Process', view.processes[l.process].label],
      ['Opened at', l.at ? sourceNode(page, l.at) : undefined],
      ['Test', l.test],
      ['Transactions', `${bars.length} (${plural(commits, 'commit')})`],
    ]),
  );
}

function showArrow(page: PageState, i: number): void {
  const view = page.view;
  const a = view.arrows[i];
  const d = panel(page);
  d.appendChild(el('h2', null, a.kind === 'stale' ? 'Stale read' : 'Read before commit'));
  d.appendChild(el('p', null, a.text));
  const w = view.ticks[a.from];
  const r = view.ticks[a.to];
  d.appendChild(
    dlist([
      ['Write', w.at ? sourceNode(page, w.at) : w.verb],
      ['Read', r.at ? sourceNode(page, r.at) : r.verb],
    ]),
  );
  if (a.finding !== undefined) d.appendChild(findingBlock(page, a.finding, false));
}

/** A finding as a block: its rule and severity (as the heading, or one line), message, places. */
function findingBlock(page: PageState, i: number, heading: boolean): HTMLDivElement {
  const f = page.view.findings[i];
  const box = el('div');
  if (heading) {
    const h = el('h2', null, `#${i + 1} ${f.rule}`);
    h.appendChild(chip(f.severity, f.severity));
    box.appendChild(h);
  } else {
    box.appendChild(el('p', null, `Finding #${i + 1} (${f.rule}, ${f.severity})`));
  }
  box.appendChild(el('p', null, f.message));
  box.appendChild(
    dlist([
      ['Where', sourceNode(page, f.at)],
      ['Test', f.test],
    ]),
  );
  if (f.related.length) {
    const ul = el('ul');
    for (const r of f.related) {
      const li = el('li');
      li.appendChild(sourceNode(page, r));
      li.appendChild(document.createTextNode(` ${r.message}`));
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
  return box;
}

function showFinding(page: PageState, i: number): void {
  panel(page).appendChild(findingBlock(page, i, true));
}

const SHOW: Record<ItemKind, (page: PageState, index: number) => void> = {
  tick: showTick,
  bar: showBar,
  lane: showLane,
  arrow: showArrow,
  finding: showFinding,
};

export function isItemKind(kind: string | null): kind is ItemKind {
  return kind !== null && Object.prototype.hasOwnProperty.call(SHOW, kind);
}

/** The drawn element of an item, found again after a redraw. */
export function itemNode(page: PageState, kind: ItemKind, index: number): Element | null {
  return page.root.querySelector(`[data-kind="${kind}"][data-index="${index}"]`);
}

/** Marks the item selected on the chart and tells about it in the panel. */
export function select(page: PageState, kind: ItemKind, index: number): void {
  const prev = page.root.querySelectorAll('.tl-selected');
  for (let i = 0; i < prev.length; i++) prev[i].classList.remove('tl-selected');
  page.selected = { kind, index };
  itemNode(page, kind, index)?.classList.add('tl-selected');
  SHOW[kind](page, index);
}

/** The source line an item stands for: what a click opens in the editor. */
export function placeOf(view: TimelineView, kind: ItemKind, index: number): TimelinePlace | undefined {
  switch (kind) {
    case 'tick':
      return view.ticks[index].at;
    case 'bar':
      return view.bars[index].endAt || view.bars[index].begin;
    case 'lane':
      return view.lanes[index].at;
    case 'finding':
      return view.findings[index].at;
    case 'arrow':
      return view.ticks[view.arrows[index].to].at;
  }
}
