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
import { statementIndex } from '../analysis/statement-index';
import type { ModelIdentityHit, ModelRun, ModelStatement } from '../model/model';
import { runCounts } from '../model/model';
import { uncommittedPairs } from '../model/query-facts';
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


export function timelineView(model: ModelRun, findings: Finding[], options: TimelineOptions): TimelineView {
  const opt = { ...DEFAULTS, ...options };
  const activity = laneActivity(model);
  const warp = runWarp(model, activity.values());
  const b: ViewBuild = { model, findings, opt, notes: [], x: (t) => warp.x(t), origin: warp.first, place: placeMaker(opt.cwd) };

  // Which statements could not see which writes, and where findings sit: found before lanes
  // are capped, so the lanes they are on are kept. The reads are those the rules indexed
  // (the same index, made here when the rules have not run on this model).
  const missed = uncommittedPairs(model, statementIndex(model).reads);
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

