/**
 * Findings on the timeline: each is placed on the lane and at the moment its
 * place in the source matches, first a statement at the finding's line (same
 * test), then a transaction that ended there, then an identity-map hit, then a
 * session opened there, then a connection opened there (a driver without ORM
 * sessions, such as better-sqlite3: sqlite-memory-isolation names the open of
 * the connection that got its own empty database). A finding that matches none
 * is listed, not drawn.
 */
import type { Finding } from '../../analysis/findings';
import type { ModelIdentityHit, ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import { relPath } from '../../present/paths';
import type { SourceFrame } from '../../trace/schema';
import { frameKey, type ViewBuild } from './context';
import { type Owner, ownerOfSt, ownerOfTx } from './lanes';
import type { TickOf } from './ticks';
import type { TimelineFinding, TimelineLane } from './view';

/** Where a finding sits: on whose lane, when, and on which statement, hit or transaction. */
export interface Placed {
  owner: Owner;
  time: number;
  st?: ModelStatement;
  hit?: ModelIdentityHit;
  tx?: ModelTransaction;
}

/** A finding of no test matches any test; one of a test only that test's work. */
export const sameTest = (f: Finding, test: string | undefined): boolean => !f.test || f.test === test;

const atKey = (at: SourceFrame | undefined) => (at ? frameKey(at[0], at[1]) : '');

/** The statements that ran at each source place. */
export function statementsByPlace(model: ModelRun): Map<string, ModelStatement[]> {
  const stmtsAt = new Map<string, ModelStatement[]>();
  for (const st of model.statements) {
    if (!st.at) continue;
    const k = atKey(st.at);
    const list = stmtsAt.get(k);
    if (list) list.push(st);
    else stmtsAt.set(k, [st]);
  }
  return stmtsAt;
}

/** Where each finding sits on the timeline (by index), or undefined when nothing there matches its place. */
export function placeFindings(model: ModelRun, findings: Finding[], stmtsAt: Map<string, ModelStatement[]>): (Placed | undefined)[] {
  return findings.map((f) => {
    const k = frameKey(f.location.file, f.location.line);
    const st = (stmtsAt.get(k) ?? []).find((s) => sameTest(f, s.test));
    if (st) return { owner: ownerOfSt(st), time: st.time, st };
    const tx = model.transactions.find((t) => atKey(t.endAt) === k && sameTest(f, t.test));
    if (tx) return { owner: ownerOfTx(tx), time: tx.end ?? tx.start, tx };
    const hit = model.identityHits.find((h) => atKey(h.at) === k && sameTest(f, h.test));
    if (hit) return { owner: hit.session, time: hit.time, hit };
    const sess = model.sessions.find((s) => atKey(s.at) === k && sameTest(f, s.test));
    if (sess) return { owner: sess, time: sess.opened };
    // A connection has no test of its own: it belongs to the finding's test when one of its statements ran there.
    const conn = model.connections.find((c) => atKey(c.at) === k && model.statements.some((s) => s.connection === c && sameTest(f, s.test)));
    if (conn) return { owner: conn, time: conn.opened };
    return undefined;
  });
}

/** What a finding can point at once lanes, bars and ticks are laid out. */
export interface Drawn {
  lanes: TimelineLane[];
  laneIndex: Map<Owner, number>;
  barIndex: Map<ModelTransaction, number>;
  tickAt: TickOf;
}

/** The view's findings, with their places for display and their lane, tick and bar where placed; each lane lists its own. */
export function timelineFindings(b: ViewBuild, placed: (Placed | undefined)[], drawn: Drawn): TimelineFinding[] {
  const cwd = b.opt.cwd;
  return b.findings.map((f, i) => {
    const out: TimelineFinding = {
      rule: f.rule,
      severity: f.severity,
      message: f.message,
      at: { file: f.location.file, line: f.location.line, path: relPath(f.location.file, cwd) },
      related: f.related.map((r) => ({ file: r.file, line: r.line, path: relPath(r.file, cwd), message: r.message })),
      test: f.test,
    };
    const p = placed[i];
    const lane = p ? drawn.laneIndex.get(p.owner) : undefined;
    if (p && lane !== undefined) {
      out.lane = lane;
      out.x = b.x(p.time);
      const tick = p.st ? drawn.tickAt(p.st) : p.hit ? drawn.tickAt(p.hit) : undefined;
      if (tick !== undefined) out.tick = tick;
      if (p.tx && drawn.barIndex.has(p.tx)) out.bar = drawn.barIndex.get(p.tx);
      drawn.lanes[lane].findings.push(i);
    }
    return out;
  });
}
