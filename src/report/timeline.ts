/**
 * The session timeline as data: one lane per ORM session (or per connection
 * for work outside any session), grouped by process; transaction bars, a tick
 * per statement, arrows from a write to the reads that could not see it, and
 * markers for findings. The same view model (./timeline/view) feeds the
 * editor's webview and the standalone HTML file of `txlens report --html`;
 * the page script (./page) draws it.
 *
 * Positions are precomputed on a warped time axis (./timeline/axis), so the
 * order of events reads whatever their durations. The view is bounded whatever
 * the size of the run: dense ticks on a lane merge into one aggregate tick, and
 * lanes, bars, ticks and arrows are capped with a note saying what was left out.
 * Each part is built by its own module in ./timeline/, in the order below.
 */
import type { Finding } from '../analysis/findings';
import type { ModelIdentityHit, ModelRun, ModelStatement, ModelTransaction } from '../model/model';
import { runCounts } from '../model/model';
import { modelRowKeys, rowsMayOverlap } from '../model/rowkeys';
import { relPath } from '../present/paths';
import { buildArrows } from './timeline/arrows';
import { axisMarks, runWarp } from './timeline/axis';
import { buildBars } from './timeline/bars';
import { DEFAULTS, placeMaker, type ViewBuild } from './timeline/context';
import { type Placed, placeFindings, statementsByPlace, timelineFindings } from './timeline/findings';
import { keptLanes, type LaneActivity, laneActivity, laneLayout, type Owner, ownerOfSt } from './timeline/lanes';
import { focusTests, buildTests, opensOn } from './timeline/tests';
import { buildTicks } from './timeline/ticks';
import { TIMELINE_TITLE, TIMELINE_VERSION, type TimelineOptions, type TimelineView } from './timeline/view';

export * from './timeline/view';

const ROW_WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT']);

export function timelineView(model: ModelRun, findings: Finding[], options: TimelineOptions): TimelineView {
  const opt = { ...DEFAULTS, ...options };
  const activity = laneActivity(model);
  const warp = runWarp(model, activity.values());
  const b: ViewBuild = { model, findings, opt, notes: [], x: (t) => warp.x(t), origin: warp.first, place: placeMaker(opt.cwd) };

  // Which statements could not see which writes, and where findings sit: found before lanes
  // are capped, so the lanes they are on are kept.
  const missed = uncommittedPairs(model);
  const stmtsAt = statementsByPlace(model);
  const placed = placeFindings(model, findings, stmtsAt);
  markStoryLanes(activity, missed, placed);

  const { processes, lanes, laneIndex, procSlot } = laneLayout(b, keptLanes(activity, opt.maxLanes, b.notes));
  const { bars, barIndex } = buildBars(b, laneIndex);
  const { ticks, tickAt } = buildTicks(b, laneIndex, barIndex, pinnedStatements(missed, placed));
  const tlFindings = timelineFindings(b, placed, { lanes, laneIndex, barIndex, tickAt });
  const arrows = buildArrows(b, missed, { ticks, tickAt, findings: tlFindings, stmtsAt });
  const tests = buildTests(b, procSlot);

  const command = model.run?.command?.join(' ');
  return {
    version: TIMELINE_VERSION,
    title: TIMELINE_TITLE,
    subtitle: command ? `${command}` : relPath(model.dir, opt.cwd),
    counts: runCounts(model),
    processes,
    lanes,
    bars,
    ticks,
    arrows,
    findings: tlFindings,
    tests,
    focus: focusTests(tests),
    opensOn: opensOn(tests, opt.nominalWidth),
    axis: axisMarks(warp),
    notes: [...b.notes, ...model.notes],
  };
}

/** The lanes an arrow or a finding is on: kept first when lanes are capped. */
function markStoryLanes(activity: Map<Owner, LaneActivity>, missed: { write: ModelStatement; read: ModelStatement }[], placed: (Placed | undefined)[]): void {
  for (const a of missed) {
    activity.get(ownerOfSt(a.write))!.priority = true;
    activity.get(ownerOfSt(a.read))!.priority = true;
  }
  for (const p of placed) if (p && activity.has(p.owner)) activity.get(p.owner)!.priority = true;
}

/** Statements and hits that keep a tick of their own: arrows' ends and findings' places. */
function pinnedStatements(missed: { write: ModelStatement; read: ModelStatement }[], placed: (Placed | undefined)[]): Set<ModelStatement | ModelIdentityHit> {
  const pinned = new Set<ModelStatement | ModelIdentityHit>();
  for (const a of missed) pinned.add(a.write).add(a.read);
  for (const p of placed) if (p?.st) pinned.add(p.st);
  for (const p of placed) if (p?.hit) pinned.add(p.hit);
  return pinned;
}

/**
 * Reads that could not see another transaction's write: the write finished, its
 * transaction had not ended (or ended later) when the read started, on another
 * connection to the same database, and the rows may overlap. The same question
 * the uncommitted-read rule asks, without its judgement of whether it mattered:
 * the picture shows every such pair and marks the ones a finding reports.
 */
export function uncommittedPairs(model: ModelRun): { write: ModelStatement; read: ModelStatement }[] {
  interface Pending {
    tx: ModelTransaction;
    writes: ModelStatement[];
    from: number;
    until: number;
  }
  const byTable = new Map<string, Pending[]>();
  for (const tx of model.transactions) {
    const db = tx.connection.dbKey;
    if (!db || tx.writes.length === 0 || tx.isolation === 'AUTOCOMMIT') continue;
    const perTable = new Map<string, Pending>();
    for (const w of tx.writes) {
      if (w.err || !ROW_WRITES.has(w.verb)) continue;
      for (const table of w.writes) {
        let p = perTable.get(table);
        if (!p) perTable.set(table, (p = { tx, writes: [], from: w.time, until: tx.end ?? Infinity }));
        p.writes.push(w);
      }
    }
    for (const [table, p] of perTable) {
      const k = `${db}\u0000${table}`;
      const list = byTable.get(k);
      if (list) list.push(p);
      else byTable.set(k, [p]);
    }
  }
  if (byTable.size === 0) return [];
  const readsBy = new Map<string, ModelStatement[]>();
  for (const r of model.statements) {
    if (r.op !== 'read' || !r.connection.dbKey) continue;
    for (const table of r.reads) {
      const k = `${r.connection.dbKey}\u0000${table}`;
      if (!byTable.has(k)) continue;
      const list = readsBy.get(k);
      if (list) list.push(r);
      else readsBy.set(k, [r]);
    }
  }
  const keys = modelRowKeys(model);
  const out: { write: ModelStatement; read: ModelStatement }[] = [];
  // A sweep over reads in start order, keeping the writes pending at that moment.
  for (const [k, reads] of readsBy) {
    const table = k.slice(k.indexOf('\u0000') + 1);
    const pendings = byTable.get(k)!.sort((a, b) => a.from - b.from);
    reads.sort((a, b) => a.start - b.start);
    let next = 0;
    let active: Pending[] = [];
    for (const r of reads) {
      while (next < pendings.length && pendings[next].from < r.start) active.push(pendings[next++]);
      if (active.length === 0) continue;
      active = active.filter((p) => p.until > r.start);
      for (const p of active) {
        if (p.tx.connection === r.connection) continue;
        const readKeys = keys.of(r, table);
        // The latest overlapping write before the read: the change the reader missed.
        let write: ModelStatement | undefined;
        for (const w of p.writes) {
          if (w.time >= r.start) break;
          if (rowsMayOverlap(readKeys, keys.of(w, table))) write = w;
        }
        if (write) out.push({ write, read: r });
      }
    }
  }
  return out;
}
